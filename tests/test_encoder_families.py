"""Hugging Face encoder families beyond BERT, built offline (random weights from a config, a
tokenizer trained with `tokenizers` on generated text): usable positions and padding per family."""

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaModel

from core.errors import UserError
from datamodules.demo_data import generate
from tests.helpers import compose_config
from training.recipe import build, train

ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]   # <pad> = 1, as in roberta-base


def roberta_checkpoint(root, positions: int):
    """A RoBERTa-family checkpoint in ``root/checkpoint``: byte-level BPE (add_prefix_space false,
    as roberta-base's), a position table of ``positions`` rows with padding_idx 1."""
    lines = (generate("sentiment", root / "generated") / "train.tsv").read_text().splitlines()[1:]
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.train_from_iterator([line.split("\t")[0] for line in lines], trainers.BpeTrainer(
        vocab_size=400, special_tokens=ROBERTA_SPECIALS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
                                   cls_token="<s>", sep_token="</s>")
    directory = root / "checkpoint"
    fast.save_pretrained(directory)
    RobertaModel(RobertaConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=32, num_hidden_layers=1,
                               num_attention_heads=2, intermediate_size=64, max_position_embeddings=positions,
                               pad_token_id=1, bos_token_id=0, eos_token_id=2)).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def tiny_roberta(tmp_path_factory):
    """18 position rows with padding_idx 1: 16 usable positions (roberta-base: 514 rows, 512)."""
    return roberta_checkpoint(tmp_path_factory.mktemp("roberta"), 18)


def test_words_of_a_token_task_are_encoded_as_in_running_text(tmp_path, tmp_path_factory):
    """A byte-level BPE sees a sentence's words as in running text (non-initial words with the
    leading-space marker 'Ġ', as in pretraining), each word's first sub-word carries its label,
    and the model trains."""
    checkpoint = roberta_checkpoint(tmp_path_factory.mktemp("roberta_long"), 258)
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
