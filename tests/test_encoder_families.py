"""Hugging Face encoder families beyond BERT, built offline (random weights from a config, a
tokenizer trained with `tokenizers` on generated text): usable positions and padding per family."""

import numpy as np
import pytest
from tokenizers import Tokenizer, models, trainers
from transformers import AutoModel, PreTrainedTokenizerFast

from homogenization.core.errors import UserError
from homogenization.core.pretrained import checkpoint_positions, usable_positions
from homogenization.training.recipe import build, train
from tests.helpers import compose_config
from tests.tiny_backbones import FAMILIES, tiny_backbone


@pytest.fixture(scope="module")
def backbones(tmp_path_factory):
    """One tiny checkpoint per family, 130 position rows each."""
    root = tmp_path_factory.mktemp("families")
    return {family: tiny_backbone(root, family, positions=130) for family in FAMILIES}


@pytest.fixture(scope="module")
def tiny_roberta(tmp_path_factory):
    """18 position rows with padding_idx 1: 16 usable positions (roberta-base: 514 rows, 512)."""
    return tiny_backbone(tmp_path_factory.mktemp("roberta"), "roberta", positions=18)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_learns_both_tasks(tmp_path, backbones, family):
    """Each family's checkpoint (its own tokenizer kind) trains on sentence and token
    classification; token-task words are encoded exactly as the running text, one labelled
    sub-word per word, and the record has one row per test word."""
    expected_positions = {"roberta": 128, "xlm-roberta": 128, "deberta-v2": None}.get(family, 130)
    assert checkpoint_positions(str(backbones[family])) == expected_positions
    assert usable_positions(AutoModel.from_pretrained(backbones[family])) == expected_positions

    overrides = ["model=bert", f"backbone={backbones[family]}", "data.max_length=128"]
    assert train(compose_config(tmp_path / "sentences", [*overrides, "data=demo"]))["status"] == "complete"

    cfg = compose_config(tmp_path / "words", [*overrides, "data=demo_ner"])
    datamodule = build(cfg)[0]
    dataset, tokenizer = datamodule.datasets["test"], datamodule.tokenizer
    for row in range(0, len(dataset), 25):
        words = datamodule.examples["test"].tokens[row]
        assert list(dataset.ids[row]) == tokenizer.encode(" ".join(words)).ids
        assert (dataset[row]["word_index"] >= 0).sum() == len(words)
    record = train(cfg)
    assert record["status"] == "complete"
    assert record["test"]["units_recorded"] == datamodule.examples["test"].num_words


def test_words_of_a_token_task_are_encoded_as_in_running_text(tmp_path, tmp_path_factory):
    """A byte-level BPE sees a sentence's words as in running text (non-initial words with the
    leading-space marker 'Ġ', as in pretraining), each word's first sub-word carries its label,
    and the model trains."""
    checkpoint = tiny_backbone(tmp_path_factory.mktemp("roberta_long"), "roberta", positions=258)
    cfg = compose_config(tmp_path / "run", ["model=bert", f"backbone={checkpoint}", "data=demo_ner"])
    datamodule = build(cfg)[0]
    words = datamodule.examples["train"].tokens[0]
    ids, word_ids = datamodule.datasets["train"].ids[0], datamodule.datasets["train"].word_ids[0]
    pieces = [datamodule.tokenizer.id_to_token(int(i)) for i in ids]
    firsts = [pieces[position] for position, word in enumerate(word_ids)
              if word >= 0 and (position == 0 or word_ids[position - 1] != word)]
    assert len(firsts) == len(words)                                  # one labelled sub-word per word
    tokenizer = datamodule.tokenizer
    assert list(ids) == tokenizer.encode(" ".join(words)).ids         # exactly the running text
    assert any(piece.startswith("Ġ") for piece in pieces)             # with its space markers,
    word_by_word = tokenizer.encode(words, is_pretokenized=True).tokens
    assert not any(piece.startswith("Ġ") for piece in word_by_word)   # which words alone lack
    assert train(cfg)["status"] == "complete"


def test_roberta_positions_exclude_the_padding_offset(tmp_path, tiny_roberta):
    with pytest.raises(UserError, match=r"data\.max_length=17 is more than the 16 positions"):
        build(compose_config(tmp_path / "too_long", ["model=bert", f"backbone={tiny_roberta}",
                                                     "data.max_length=17"]))
    datamodule = build(compose_config(tmp_path / "probe", ["model=bert", f"backbone={tiny_roberta}",
                                                            "data.max_length=16"]))[0]
    assert datamodule.pad_token_id == 1                      # the checkpoint's <pad>, not id 0 (<s>)
    # The longest texts fill all 16 positions (18 used to pass the check, then crash in transformers).
    assert max(len(ids) for ids in datamodule.datasets["train"].ids) == 16
    record = train(compose_config(tmp_path / "run", ["model=bert", f"backbone={tiny_roberta}",
                                                      "data.max_length=16"]))
    assert record["status"] == "complete"


def test_long_sentences_are_split_into_windows_and_each_word_is_predicted_once(tmp_path, tiny_roberta):
    """16 positions are fewer than many demo sentences have sub-words: with ``data.windows=auto``
    (the default) a pretrained backbone's long sentences become overlapping windows; each word is
    labelled in exactly one window, at its real first sub-word, and the record has every word."""
    overrides = ["model=bert", f"backbone={tiny_roberta}", "data=demo_ner", "data.max_length=16",
                 "data.window_overlap=4"]
    cfg = compose_config(tmp_path / "run", overrides)
    datamodule = build(cfg)[0]
    dataset, tokenizer = datamodule.datasets["test"], datamodule.tokenizer
    sentences = datamodule.examples["test"].tokens
    assert dataset.windowed_sentences > len(sentences) // 4
    assert max(len(ids) for ids in dataset.ids) == 16
    labelled: dict[int, dict[int, str]] = {}        # sentence -> word -> the sub-word labelled
    for row in range(len(dataset)):
        item = dataset[row]
        for position in np.flatnonzero(item["word_index"] >= 0):
            word = int(item["word_index"][position])
            assert word not in labelled.setdefault(item["example_id"], {})   # at most once
            labelled[item["example_id"]][word] = tokenizer.id_to_token(int(item["input_ids"][position]))
    for sentence, words in enumerate(sentences):
        assert sorted(labelled[sentence]) == list(range(len(words)))      # every word, exactly once
        whole = tokenizer.encode(" ".join(words))
        starts = np.cumsum([0] + [len(word) + 1 for word in words[:-1]])
        firsts = [whole.tokens[whole.char_to_token(int(start))] for start in starts]
        assert [labelled[sentence][word] for word in range(len(words))] == firsts
    record = train(cfg)
    assert record["status"] == "complete"
    assert record["data"]["splits"]["test"]["windowed"] == dataset.windowed_sentences
    assert record["test"]["units_recorded"] == sum(len(words) for words in sentences)


def test_long_sentences_are_refused_where_windows_are_off(tmp_path, tiny_roberta):
    with pytest.raises(UserError, match=r"more than data\.max_length=16.*data\.windows=true"):
        build(compose_config(tmp_path / "off", ["model=bert", f"backbone={tiny_roberta}", "data=demo_ner",
                                                "data.max_length=16", "data.windows=false"]))
    # A model trained from scratch has no position limit to respect: raise max_length instead.
    with pytest.raises(UserError, match=r"raise data\.max_length"):
        build(compose_config(tmp_path / "scratch", ["data=demo_ner", "data.max_length=12"]))
    with pytest.raises(UserError, match=r"data\.window_overlap=64.*between 0 and half"):
        build(compose_config(tmp_path / "overlap", ["model=bert", f"backbone={tiny_roberta}",
                                                    "data=demo_ner", "data.max_length=16"]))


def test_a_tokenizer_whose_subwords_cross_words_is_refused_for_token_tasks(tmp_path, tiny_roberta):
    """A BPE without a pre-tokenizer merges across spaces ('of the'), so a word can lose its own
    sub-word: refused with a message instead of silently mislabelling words."""
    texts = [" ".join(["of the", "in the", "to the"] * 20)] * 50
    merging = Tokenizer(models.BPE(unk_token="<unk>"))
    merging.train_from_iterator(texts + [chr(c) for c in range(32, 127)], trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], show_progress=False))
    directory = tmp_path / "merging"
    fast = PreTrainedTokenizerFast(tokenizer_object=merging, pad_token="<pad>", unk_token="<unk>")
    fast.save_pretrained(directory)
    for name in ("config.json", "model.safetensors"):
        (directory / name).write_bytes((tiny_roberta / name).read_bytes())
    with pytest.raises(UserError, match=r"sub-words that span more than one word"):
        build(compose_config(tmp_path / "run", ["model=bert", f"backbone={directory}", "data=demo_ner"]))
