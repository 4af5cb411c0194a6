"""Tokenized data is cached on disk, keyed by the data and the tokenizer settings."""

import pytest
from hydra.utils import instantiate

from datamodules.tokenization import WordPieceFromData
from tests.helpers import compose_config


def build(tmp_path, *overrides):
    cfg = compose_config(tmp_path / "run", list(overrides), cache_dir=tmp_path / "cache")
    datamodule = instantiate(cfg.data, tokenizer=instantiate(cfg.model.tokenizer))
    datamodule.setup()
    return datamodule


def test_second_setup_skips_tokenization(tmp_path, monkeypatch):
    first = build(tmp_path)
    assert first.cache_hit is False

    def no_training(*args, **kwargs):
        raise AssertionError("tokenizer was trained again despite a cached entry")

    monkeypatch.setattr(WordPieceFromData, "build", no_training)
    second = build(tmp_path)
    assert second.cache_hit is True
    assert second.tokenizer.get_vocab() == first.tokenizer.get_vocab()
    for split in ("train", "dev", "test"):
        assert [list(ids) for ids in second.datasets[split].ids] == \
               [list(ids) for ids in first.datasets[split].ids]


@pytest.mark.parametrize("change", ["model.tokenizer.vocab_size=1500", "data.max_length=16",
                                    "data.max_train_examples=200"])
def test_changed_settings_miss_the_cache(tmp_path, change):
    build(tmp_path)
    assert build(tmp_path, change).cache_hit is False


def test_batches_are_padded_to_their_own_longest_sequence(tmp_path):
    datamodule = build(tmp_path)
    for batch in list(datamodule.test_dataloader())[:3]:
        lengths = batch["attention_mask"].sum(dim=1)
        assert batch["input_ids"].shape[1] == lengths.max()
        assert (batch["input_ids"][batch["attention_mask"] == 0] == datamodule.pad_token_id).all()
