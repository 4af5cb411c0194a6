"""CoNLL reading, sub-word alignment, entity scores, and token-classification run records."""

import numpy as np
import pytest
from hydra.utils import instantiate

from datamodules.batching import PadWordBatch, TokenizedWords
from datamodules.conll import TaggedSentences, iob1_to_iob2, read_conll
from datamodules.token_classification import encode_words
from datamodules.tokenization import WordPieceFromData
from homogenization.core.errors import UserError
from homogenization.core.run_record import read_predictions, read_representations, read_run_json
from homogenization.training.recipe import train
from lightning_modules.entity_metrics import entity_scores, tag_scores
from tests.helpers import compose_config

# The real CoNLL-2003 (with the data) and the generated entity task (always): (sentences, words).
TOKEN_DATA = {"conll2003": (3453, 46435), "demo_ner": (500, None)}


@pytest.mark.parametrize("split, sentences, tokens", [
    ("train", 14041, 203621), ("valid", 3250, 51362), ("test", 3453, 46435),
])
def test_reader_counts_on_the_real_files(data_dir, split, sentences, tokens):
    data = read_conll(data_dir / "conll2003" / f"{split}.txt", separator="space", tag_column=3)
    assert len(data) == sentences
    assert data.num_words == tokens
    assert all(len(t) == len(g) for t, g in zip(data.tokens, data.tags))
    assert data.tokens[0][0] != "-DOCSTART-"


def test_iob1_becomes_iob2():
    assert iob1_to_iob2(["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-ORG"]) == \
        ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "B-ORG"]
    assert iob1_to_iob2(["B-PER", "I-PER", "O"]) == ["B-PER", "I-PER", "O"]


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("content, message", [
    ("EU B-ORG\nrejects O extra\n", r"bad\.txt:2: expected 2 columns, found 3"),
    ("EU B-ORG\nrejects X-MISC\n", r"bad\.txt:2: tag 'X-MISC' is not O, B-TYPE or I-TYPE"),
    ("EU B-ORG\nrejects E-PER\n", r"bad\.txt:2: tag 'E-PER'"),
    ("-DOCSTART- O\n\n", r"bad\.txt: no sentences"),
])
def test_malformed_conll_names_file_and_line(tmp_path, content, message):
    with pytest.raises(UserError, match=message):
        read_conll(write(tmp_path / "bad.txt", content))


def conll_files(tmp_path, test_text="Paris B-LOC\nis O\nnice O\n"):
    train = "-DOCSTART- O\n\nJohn B-PER\nSmith I-PER\nlives O\nin O\nParis B-LOC\n\n"
    return {"train": write(tmp_path / "train.txt", train),
            "dev": write(tmp_path / "dev.txt", train),
            "test": write(tmp_path / "test.txt", test_text)}


def test_comment_lines_a_bom_anywhere_and_a_hash_token_read_as_researchers_write_them(tmp_path):
    text = ("# sent_id = 1\n# text = John lives in Paris\n\ufeffJohn B-PER\nlives O\n# O\nParis B-LOC\n\n"
            "#\tsource = wiki\n\ufeff\nSmith B-PER\n")
    found = read_conll(write(tmp_path / "c.txt", text))
    assert found.tokens == [["John", "lives", "#", "Paris"], ["Smith"]]
    assert found.tags == [["B-PER", "O", "O", "B-LOC"], ["B-PER"]]
    assert found.lines == [3, 10]
    with pytest.raises(UserError, match=r"c.txt:1: tag '1'"):          # without the option: read as tokens
        read_conll(write(tmp_path / "c.txt", text), comment_prefix=None)


def test_a_one_column_file_is_named_as_such(tmp_path):
    with pytest.raises(UserError, match=r"one\.txt:1: one column \('John'\); a CoNLL file has a token"):
        read_conll(write(tmp_path / "one.txt", "John\nlives\n"))


def test_tags_only_in_dev_or_test_are_kept_by_an_explicit_option_and_counted(tmp_path):
    files = conll_files(tmp_path, test_text="Reuters B-ORG\nsaid O\n\nParis B-LOC\nbank B-ORG\n")
    overrides = ["data=conll", "model.tokenizer.vocab_size=100",
                 *(f"data.files.{k}={v}" for k, v in files.items())]
    cfg = compose_config(tmp_path / "run", overrides)
    datamodule = instantiate(cfg.data, tokenizer=instantiate(cfg.model.tokenizer))
    with pytest.raises(UserError, match=r"tag 'B-ORG' never occurs in the training.*data.unseen_labels=keep"):
        datamodule.setup()
    train(compose_config(tmp_path / "run", [*overrides, "data.unseen_labels=keep"]))
    record = read_run_json(tmp_path / "run")
    assert record["status"] == "complete" and "B-ORG" in record["labels"]
    assert record["data"]["unseen_labels"] == {"test": {"B-ORG": 2}}


def test_tag_only_in_test_and_missing_split_are_clear(tmp_path):
    files = conll_files(tmp_path, test_text="Reuters B-ORG\n\nParis B-LOC\nbank I-ORG\n")
    cfg = compose_config(tmp_path / "run", ["data=conll", "model.tokenizer.vocab_size=100",
                                            *(f"data.files.{k}={v}" for k, v in files.items())])
    datamodule = instantiate(cfg.data, tokenizer=instantiate(cfg.model.tokenizer))
    with pytest.raises(UserError, match=r"test\.txt:1: tag 'B-ORG' never occurs in the training"):
        datamodule.setup()
    cfg.data.files.dev = str(tmp_path / "absent.txt")
    datamodule = instantiate(cfg.data, tokenizer=instantiate(cfg.model.tokenizer))
    with pytest.raises(UserError, match=r"absent\.txt: data file not found"):
        datamodule.setup()


def test_every_word_gets_exactly_one_labelled_sub_word(demo_train_texts, tmp_path):
    tokenizer = WordPieceFromData(vocab_size=500).build(demo_train_texts[:500])
    words = ["Schwarzeneggerization", "of", "\u0007", "Lyonnaise", "cuisine", "!"]
    labels = [3, 0, 0, 1, 2, 0]
    sentences = TaggedSentences(tmp_path / "s.txt", [words], [["O"] * 6], [1])
    tokens = encode_words(tokenizer, sentences, max_length=64)
    assert len(tokens["ids"][0]) > len(words) + 2  # rare words split into several sub-words
    example = TokenizedWords(tokens["ids"], tokens["word_ids"], [labels])[0]
    first = example["word_index"] >= 0
    assert list(example["word_index"][first]) == list(range(len(words)))  # the control char too
    assert list(example["labels"][first]) == labels
    assert (example["labels"][~first] == -100).all()
    batch = PadWordBatch(0)([example, TokenizedWords([[2, 7, 3]], [[-1, 0, -1]], [[4]])[0]])
    assert batch["labels"].shape == batch["input_ids"].shape == batch["word_index"].shape
    assert (batch["labels"][1] != -100).sum() == 1 and batch["labels"][1, 1] == 4
    with pytest.raises(UserError, match=r"s\.txt:1: this sentence has \d+ sub-word tokens"):
        encode_words(tokenizer, sentences, max_length=8)


def test_entity_scores_on_a_hand_made_example():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-PER"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O", "I-PER"]]
    # gold entities: PER(0-1), LOC(3), ORG(s2 0), PER(s2 2); predicted: PER, ORG(3), ORG, PER
    # (a lone I-PER starts an entity in conlleval mode): 3 of 4 correct each way.
    scores = entity_scores(gold, pred)
    assert scores["precision"] == pytest.approx(0.75) and scores["recall"] == pytest.approx(0.75)
    assert scores["f1"] == pytest.approx(0.75)
    assert scores["f1_PER"] == 1.0 and scores["f1_LOC"] == 0.0
    assert scores["precision_ORG"] == pytest.approx(0.5) and scores["recall_ORG"] == 1.0
    from seqeval.metrics import f1_score

    assert scores["f1"] == pytest.approx(f1_score(gold, pred))
    table = tag_scores(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), ["O", "B-X", "I-X"])
    assert table["B-X"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3),
                            "support": 2}


@pytest.mark.parametrize("data", list(TOKEN_DATA))
@pytest.mark.parametrize("model", ["cnn_lstm", "transformer", "bert"])
def test_token_model_trains_and_writes_per_word_record(request, tmp_path, tiny_bert, model, data):
    if data == "conll2003":
        request.getfixturevalue("data_dir")   # skips without the real data
    run_dir = tmp_path / "run"
    overrides = [f"data={data}", "data.max_train_examples=200", f"model={model}"]
    if model == "bert":
        overrides.append(f"model.pretrained={tiny_bert}")
    train(compose_config(run_dir, overrides))

    record = read_run_json(run_dir)
    assert record["status"] == "complete" and record["task"] == "token_classification"
    test_split = record["data"]["splits"]["test"]
    words = test_split["units"]
    sentences, expected_words = TOKEN_DATA[data]
    assert test_split["size"] == sentences and words == (expected_words or words) > sentences
    assert record["labels"][0] == "O" and "B-PER" in record["labels"]
    for name in ("test/f1", "test/precision", "test/recall", "test/f1_PER", "test/tag_f1_B-PER"):
        assert 0.0 <= record["metrics"][name] <= 1.0
    assert np.isfinite(record["metrics"]["test/loss"]) and "val/f1_best" in record["metrics"]

    predictions = read_predictions(run_dir)
    assert len(predictions["label"]) == words
    keys = set(zip(predictions["sentence_id"].tolist(), predictions["word_index"].tolist()))
    assert len(keys) == words  # every word once
    lengths = np.bincount(predictions["sentence_id"])
    assert (lengths > 0).all() and predictions["word_index"].max() == lengths.max() - 1
    assert predictions["probs"].shape == (words, len(record["labels"]))
    tags = [record["labels"][i] for i in predictions["pred"]]
    starts = np.r_[True, predictions["sentence_id"][1:] != predictions["sentence_id"][:-1]]
    for index, tag in enumerate(tags):  # IOB2 decoding: I-X only after B-X / I-X of a sentence
        assert not tag.startswith("I-") or (not starts[index] and tags[index - 1][2:] == tag[2:])
    representations = read_representations(run_dir)
    assert representations.shape[0] == words and representations.dtype == np.float16
    report = (run_dir / "test_report.txt").read_text()
    assert "PER" in report and "B-LOC" in report
