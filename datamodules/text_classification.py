"""DataModule for labelled text files (SST-2, any CSV/TSV) for sequence classification."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from datamodules import token_cache
from datamodules.batching import PadToLongest, TokenizedExamples
from datamodules.readers import (
    LabelledTexts,
    encode_labels,
    read_labelled_table,
    resolve_label_names,
)
from datamodules.tokenization import PAD, encode
from homogenization.errors import UserError
from homogenization.run_record import fingerprint

log = logging.getLogger(__name__)
SPLITS = ("train", "dev", "test")


def subsample(size: int, fraction: float, max_examples: int | None, seed: int) -> np.ndarray:
    """Indices of a deterministic random subset (kept in file order); all rows if no limit."""
    if not 0 < fraction <= 1:
        raise UserError(f"data.train_fraction={fraction} must be in (0, 1].")
    if max_examples is not None and max_examples <= 0:
        raise UserError(f"data.max_train_examples={max_examples} must be positive (or null).")
    keep = round(size * fraction)
    if max_examples is not None:
        keep = min(keep, max_examples)
    if keep >= size:
        return np.arange(size)
    return np.sort(np.random.default_rng(seed).permutation(size)[: max(keep, 1)])


class TextClassificationDataModule(pl.LightningDataModule):
    """Reads train/dev/test files, tokenizes them once (cached on disk), pads batches per batch.

    ``tokenizer`` comes from the model config (a vocabulary trained on the training split, or a
    pretrained checkpoint's tokenizer). ``data_seed`` fixes the order of training batches.
    """

    task = "sequence_classification"

    def __init__(
        self,
        name: str,
        files: dict[str, str],
        tokenizer,
        text_column: str | int = "sentence",
        label_column: str | int = "label",
        label_names: list[str] | None = None,
        delimiter: str = "\t",
        header: bool = True,
        quotechar: str | None = '"',
        encoding: str = "utf-8",
        train_fraction: float = 1.0,
        max_train_examples: int | None = None,
        subsample_seed: int = 0,
        max_length: int = 128,
        batch_size: int = 32,
        eval_batch_size: int = 128,
        num_workers: int = 0,
        pin_memory: bool = False,
        cache_dir: str | None = None,
        data_seed: int = 0,
    ):
        super().__init__()
        missing = [split for split in SPLITS if not files.get(split)]
        if missing:
            raise UserError(f"data.files has no {', '.join(missing)} file; give all of {SPLITS}.")
        for key, value in {"data.max_length": max_length, "data.batch_size": batch_size,
                           "data.eval_batch_size": eval_batch_size}.items():
            if value is None or value <= 0:
                raise UserError(f"{key}={value} must be a positive integer.")
        self.name = name
        self.files = {split: Path(files[split]) for split in SPLITS}
        self.tokenizer_spec = tokenizer
        self.table_options = dict(text_column=text_column, label_column=label_column,
                                  delimiter=delimiter, header=header, quotechar=quotechar,
                                  encoding=encoding)
        self.configured_label_names = list(label_names) if label_names else None
        self.train_fraction = train_fraction
        self.max_train_examples = max_train_examples
        self.subsample_seed = subsample_seed
        self.max_length = max_length
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.data_seed = data_seed
        self.cache_hit: bool | None = None
        self.datasets: dict[str, TokenizedExamples] = {}

    # -- reading and tokenizing -----------------------------------------------------------------
    def _read(self) -> dict[str, LabelledTexts]:
        splits = {
            split: read_labelled_table(self.files[split], key=f"data.files.{split}",
                                       **self.table_options)
            for split in SPLITS
        }
        keep = subsample(len(splits["train"]), self.train_fraction, self.max_train_examples,
                         self.subsample_seed)
        train = splits["train"]
        splits["train"] = LabelledTexts(
            path=train.path, texts=[train.texts[i] for i in keep],
            labels=[train.labels[i] for i in keep], lines=[train.lines[i] for i in keep],
        )
        return splits

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:  # already set up (the recipe calls setup before building the model)
            return
        splits = self._read()
        self.label_names = resolve_label_names(splits["train"], self.configured_label_names)
        labels = {
            split: encode_labels(texts, self.label_names, self.configured_label_names is not None)
            for split, texts in splits.items()
        }
        self.fingerprints = {
            split: fingerprint(zip(splits[split].texts, (self.label_names[i] for i in labels[split])))
            for split in SPLITS
        }
        self.sizes = {split: len(splits[split]) for split in SPLITS}
        ids = self._tokenize(splits)
        self.datasets = {split: TokenizedExamples(ids[split], labels[split]) for split in SPLITS}
        self.test_texts = splits["test"].texts

    def _tokenize(self, splits: dict[str, LabelledTexts]) -> dict[str, list]:
        key = token_cache.cache_key(
            fingerprints=self.fingerprints,
            tokenizer=self.tokenizer_spec.settings(), max_length=self.max_length,
        )
        cached = token_cache.load(self.cache_dir, key) if self.cache_dir else None
        self.cache_hit = cached is not None
        if cached is not None:
            log.info("Tokenized data loaded from cache %s", self.cache_dir / key)
            self.tokenizer, ids = cached
            return ids
        log.info("Tokenizing %s (%s)", self.name, self.tokenizer_spec.settings()["kind"])
        self.tokenizer = self.tokenizer_spec.build(splits["train"].texts)
        ids = {split: encode(self.tokenizer, splits[split].texts, self.max_length)
               for split in SPLITS}
        if self.cache_dir:
            token_cache.save(self.cache_dir, key, self.tokenizer, ids)
        return ids

    # -- what the model needs to know ----------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    @property
    def pad_token_id(self) -> int:
        pad = self.tokenizer.token_to_id(PAD)
        return 0 if pad is None else pad

    # -- loaders -------------------------------------------------------------------------------
    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        generator = torch.Generator().manual_seed(self.data_seed) if shuffle else None
        return DataLoader(
            self.datasets[split], batch_size=batch_size, shuffle=shuffle, generator=generator,
            collate_fn=PadToLongest(self.pad_token_id), num_workers=self.num_workers,
            pin_memory=self.pin_memory, persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("dev", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, shuffle=False)
