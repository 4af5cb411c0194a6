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


@pytest.fixture(scope="module")
def tiny_roberta(tmp_path_factory):
    """A RoBERTa-family checkpoint: byte-level BPE, position table of 18 rows with padding_idx 1
    (so 16 usable positions, as roberta-base's 514 rows hold 512 tokens)."""
    root = tmp_path_factory.mktemp("roberta")
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
                               num_attention_heads=2, intermediate_size=64, max_position_embeddings=18,
                               pad_token_id=1, bos_token_id=0, eos_token_id=2)).save_pretrained(directory)
    return directory


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
