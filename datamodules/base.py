"""The shared life of every labelled-text DataModule: read splits, subsample, fingerprint,
tokenize once (cached on disk), and serve padded batches.

A subclass says how to read a split, how to map its labels to indices, how to tokenize it, and
how to build its dataset and collate function.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from datamodules import hub_copy, token_cache
from datamodules.sampling import EpochShuffleSampler
from datamodules.tokenization import PAD
from homogenization.core.errors import UserError

log = logging.getLogger(__name__)
SPLITS = ("train", "dev", "test")
MAX_UNKNOWN_SHARE = 0.5
WARN_SHARE = 0.05   # warn when more than this share of the test split is truncated or seen in training


def subsample(size: int, fraction: float, max_examples: int | None, seed: int) -> np.ndarray:
    """Indices of a deterministic random subset (kept in file order); all rows if no limit.

    ``max_examples`` caps the split first and ``fraction`` takes that share of what is left, so a
    data-size axis (fractions 0.25, 0.5, 1.0) under a cap trains on 0.25, 0.5 and 1.0 of the cap;
    with one seed the smaller subsets are nested in the larger (prefixes of one permutation)."""
    if not 0 < fraction <= 1:
        raise UserError(f"data.train_fraction={fraction} must be in (0, 1].")
    if max_examples is not None and max_examples <= 0:
        raise UserError(f"data.max_train_examples={max_examples} must be positive (or null).")
    pool = size if max_examples is None else min(size, max_examples)
    keep = round(pool * fraction)
    if keep >= size:
        return np.arange(size)
    return np.sort(np.random.default_rng(seed).permutation(size)[: max(keep, 1)])


class TextDataModule(pl.LightningDataModule):
    """The life every DataModule here shares: a tokenizer spec from the model config, checked batch
    sizes, loaders seeded by ``data_seed`` (never the global RNG), what the model needs to know
    (vocabulary size, padding id) and what ``run.json`` says about the data. A subclass's
    ``setup`` reads and tokenizes, filling ``tokenizer``, ``fingerprints`` and ``sizes``."""

    def __init__(self, name: str, tokenizer, encoding: str = "utf-8", batch_size: int = 32,
                 eval_batch_size: int = 256, num_workers: int = 0, pin_memory: bool = False,
                 data_seed: int = 0):
        super().__init__()
        for key, value in {"data.batch_size": batch_size, "data.eval_batch_size": eval_batch_size}.items():
            if value is None or value <= 0:
                raise UserError(f"{key}={value} must be a positive integer.")
        self.name = name
        self.tokenizer_spec = tokenizer
        self.encoding = encoding
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.data_seed = data_seed
        self.fingerprints: dict[str, str] = {}
        self.sizes: dict[str, int] = {}

    @property
    def units(self) -> dict[str, int]:
        """Rows of each split's predictions (or blocks): examples unless a subclass says otherwise."""
        return self.sizes

    def task_arguments(self) -> dict:
        """What the task module is built with from the data (label names for labelled tasks)."""
        return {}

    def data_report(self) -> dict:
        """What run.json says about the data: per split its fingerprint, size and units."""
        return {"splits": {split: {"fingerprint": self.fingerprints[split], "size": self.sizes[split],
                                   "units": self.units[split]} for split in self.fingerprints}}

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    @property
    def pad_token_id(self) -> int:
        """The id of the tokenizer's padding token (its spec says which: ``[PAD]``, ``<pad>`` ...)."""
        pad = self.tokenizer.token_to_id(getattr(self.tokenizer_spec, "pad_token", PAD))
        return 0 if pad is None else pad

    def loader(self, dataset, batch_size: int, sampler, collate_fn) -> DataLoader:
        return DataLoader(
            dataset, batch_size=batch_size, sampler=sampler,
            generator=torch.Generator().manual_seed(self.data_seed),  # never the global RNG
            collate_fn=collate_fn, num_workers=self.num_workers,
            pin_memory=self.pin_memory, persistent_workers=self.num_workers > 0,
        )


class LabelledDataModule(TextDataModule):
    """Labelled splits read from files. ``data_seed`` fixes batch order."""

    def __init__(
        self,
        name: str,
        files: dict[str, str],
        tokenizer,
        label_names: list[str] | None = None,
        encoding: str = "utf-8",
        train_fraction: float = 1.0,
        max_train_examples: int | None = None,
        subsample_seed: int = 0,
        max_length: int = 128,
        batch_size: int = 32,
        eval_batch_size: int = 256,
        num_workers: int = 0,
        pin_memory: bool = False,
        bucket_batches: int = 0,
        cache_dir: str | None = None,
        data_seed: int = 0,
        source: str | None = None,
        download: dict | None = None,
        unseen_labels: str = "error",
        dev_fraction: float = 0.1,
        dev_seed: int = 0,
    ):
        super().__init__(name, tokenizer, encoding, batch_size, eval_batch_size, num_workers,
                         pin_memory, data_seed)
        missing = [split for split in ("train", "test") if not (files or {}).get(split)]
        if missing:
            raise UserError(f"data.files has no {', '.join(missing)} file; give train and test (and dev, or "
                            "leave it null to carve data.dev_fraction of train with data.dev_seed).")
        if isinstance(dev_fraction, bool) or not isinstance(dev_fraction, (int, float)) \
                or not 0 < dev_fraction <= 0.5:
            raise UserError(f"data.dev_fraction={dev_fraction!r}: the share of the training file held out "
                            "for validation when data.files.dev is null; give a number in (0, 0.5], e.g. 0.1")
        self.dev_fraction, self.dev_seed = float(dev_fraction), int(dev_seed)
        self.dev_from_train: dict | None = None
        if max_length is None or max_length <= 0:
            raise UserError(f"data.max_length={max_length} must be a positive integer.")
        self.files = {split: Path(files[split]) for split in SPLITS if files.get(split)}
        self.source = source   # where a known dataset's files come from, for the missing-file message
        self.download = download   # how to fetch them from the hub when all are missing (hub_copy.py)
        self.configured_label_names = list(label_names) if label_names else None
        if unseen_labels not in ("error", "keep"):
            raise UserError(f"data.unseen_labels={unseen_labels!r}: choose error (a label only in dev/test "
                            "stops the run) or keep (it is scored, every run errs on it, run.json counts it)")
        self.unseen_labels = unseen_labels
        self.unseen: dict[str, dict[str, int]] = {}
        self.train_fraction = train_fraction
        self.max_train_examples = max_train_examples
        self.subsample_seed = subsample_seed
        self.max_length = max_length
        self.bucket_batches = bucket_batches
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.cache_hit: bool | None = None
        self.datasets: dict[str, Dataset] = {}

    # -- what a subclass provides ----------------------------------------------------------
    def read_split(self, split: str):
        """The split's examples (an object with ``subset(indices)`` and ``len``)."""
        raise NotImplementedError

    def resolve_label_names(self, train) -> list[str]:
        raise NotImplementedError

    def encode_labels(self, examples, names: list[str]) -> list:
        raise NotImplementedError

    def fingerprint(self, examples, labels: list) -> str:
        raise NotImplementedError

    def training_texts(self, train) -> list[str]:
        """The texts a vocabulary is trained on."""
        raise NotImplementedError

    def tokenize(self, tokenizer, examples) -> dict[str, list[list[int]]]:
        """Named integer rows per example, e.g. {"ids": ...}; cached on disk."""
        raise NotImplementedError

    def make_dataset(self, tokens: dict[str, list], labels: list) -> Dataset:
        raise NotImplementedError

    def texts_of(self, split: str) -> list:
        """The split's text per item (JSON-able), in item order: what a reader of the analysis's
        per-unit table sees."""
        raise NotImplementedError

    def collate(self):
        raise NotImplementedError

    # -- the shared set-up ------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.datasets:  # already set up (the recipe calls setup before building the model)
            return
        missing = [path for path in self.files.values() if not path.exists()]
        if self.source and self.download and len(missing) == len(self.files):
            log.info("Fetching %s from the Hugging Face hub (%s) into %s", self.name,
                     self.download["dataset"], missing[0].parent)
            hub_copy.fetch_missing(self.files, self.download, self.source)
        for path in self.files.values():
            if self.source and not path.exists():
                raise UserError(f"{path}: data file not found. {self.source} Put the files there, or point "
                                "paths.data_dir (HOMOG_DATA_DIR) at the folder that holds them; "
                                "data=demo needs no files.")
        splits = {split: self.read_split(split) for split in self.files}
        if "dev" not in splits:
            splits["train"], splits["dev"] = self._carve_dev(splits["train"])
        if self.training_texts(splits["test"]) == self.training_texts(splits["train"]):
            raise UserError(f"{self.files['test']}: the test split is the training split "
                            f"({self.files['train']}); a model tested on its training data measures "
                            "nothing. Set data.files.test to held-out data.")
        keep = subsample(len(splits["train"]), self.train_fraction, self.max_train_examples,
                         self.subsample_seed)
        splits["train"] = splits["train"].subset(keep)
        self.label_names = self.resolve_label_names(splits["train"])
        if self.unseen_labels == "keep":
            self.label_names = self.label_names + self._keep_unseen(splits)
        labels = {split: self.encode_labels(examples, self.label_names)
                  for split, examples in splits.items()}
        learnable = {label for label in _flat(labels["train"]) if label >= 0}
        if len(learnable) < 2:
            seen = [self.label_names[label] for label in sorted(learnable)]
            raise UserError(f"{self.files['train']}: the training split holds {len(learnable)} label "
                            f"({seen}); a classifier needs examples of two or more. Check "
                            "data.label_column, or data.max_train_examples / data.train_fraction.")
        self.fingerprints = {split: self.fingerprint(splits[split], labels[split])
                             for split in SPLITS}
        self.sizes = {split: len(splits[split]) for split in SPLITS}
        tokens = self._tokenize_all(splits)
        self.truncated = {split: int(sum(row[0] for row in tokens[split].get("truncated", [])))
                          for split in SPLITS}
        train_texts = set(self.training_texts(splits["train"]))
        self.test_in_train = sum(text in train_texts for text in self.training_texts(splits["test"]))
        self.datasets = {split: self.make_dataset(tokens[split], labels[split]) for split in SPLITS}
        self.examples = splits
        self._warn_about_the_test_split()

    def _carve_dev(self, train):
        """(train, dev) from the training file alone: a seeded random ``dev_fraction`` of its
        examples held out (before any subsample), the rest kept in file order; recorded in run.json
        (``data.dev_from_train``)."""
        n = len(train)
        held = max(1, round(n * self.dev_fraction))
        if n - held < 2:
            raise UserError(f"{self.files['train']}: {n} examples are too few to hold out a dev split; give "
                            "data.files.dev")
        order = np.random.default_rng(self.dev_seed).permutation(n)
        self.dev_from_train = {"fraction": self.dev_fraction, "seed": self.dev_seed, "size": held}
        return train.subset(sorted(order[held:])), train.subset(sorted(order[:held]))

    def label_values(self, examples) -> list[str]:
        """Every label of a split, as written (a tag per word for token tasks)."""
        return list(examples.labels)

    def _keep_unseen(self, splits: dict) -> list[str]:
        """``data.unseen_labels=keep``: the labels of dev and test that training never shows,
        appended to the label set, and counted per split for run.json."""
        known = set(self.label_names)
        for split in ("dev", "test"):
            counts: dict[str, int] = {}
            for label in self.label_values(splits[split]):
                if label not in known:
                    counts[label] = counts.get(label, 0) + 1
            if counts:
                self.unseen[split] = counts
        extra = sorted({label for counts in self.unseen.values() for label in counts})
        if extra:
            counts = "; ".join(f"{split}: {sum(c.values())}" for split, c in self.unseen.items())
            log.warning("data.unseen_labels=keep: %s occur in dev/test only (%s); every run errs on them",
                        ", ".join(extra), counts)
        return extra

    def _warn_about_the_test_split(self) -> None:
        size = self.sizes["test"]
        if self.truncated["test"] > WARN_SHARE * size:
            log.warning("%d of %d test examples (%.0f%%) are longer than data.max_length=%d and were "
                        "truncated; raise data.max_length if their ends matter.", self.truncated["test"],
                        size, 100 * self.truncated["test"] / size, self.max_length)
        if self.test_in_train > WARN_SHARE * size:
            log.warning("%d of %d test texts (%.0f%%) also occur in the training split: the test "
                        "measures memory as much as generalization.", self.test_in_train, size,
                        100 * self.test_in_train / size)

    def data_report(self) -> dict:
        """Also how many examples of each split were truncated, and how many test texts occur in
        the training split."""
        report = super().data_report()
        for split, entry in report["splits"].items():
            entry["truncated"] = self.truncated[split]
        return {**report, "test_in_train": self.test_in_train,
                **({"unseen_labels": self.unseen} if self.unseen else {}),
                **({"dev_from_train": self.dev_from_train} if self.dev_from_train else {})}

    def _tokenize_all(self, splits: dict[str, Any]) -> dict[str, dict[str, list]]:
        key = token_cache.cache_key(
            datamodule=type(self).__name__, fingerprints=self.fingerprints,
            tokenizer=self.tokenizer_spec.settings(), **self.tokenize_settings(),
        )
        # Held while this job builds the entry, so parallel jobs of a sweep wait and then load it:
        # a vocabulary trained by `tokenizers` differs from process to process (its hash maps break
        # ties at random), and seeds of one study must share one vocabulary.
        with token_cache.building(self.cache_dir, key):
            cached = token_cache.load(self.cache_dir, key) if self.cache_dir else None
            self.cache_hit = cached is not None
            if cached is not None:
                log.info("Tokenized data loaded from cache %s", self.cache_dir / key)
                self.tokenizer, tokens = cached
                return tokens
            log.info("Tokenizing %s (%s)", self.name, self.tokenizer_spec.settings()["kind"])
            self.tokenizer = self.tokenizer_spec.build(self.training_texts(splits["train"]))
            tokens = {split: self.tokenize(self.tokenizer, splits[split]) for split in SPLITS}
            self._check_unknown_share(tokens["train"]["ids"])
            if self.cache_dir:
                token_cache.save(self.cache_dir, key, self.tokenizer, tokens)
            return tokens

    def _check_unknown_share(self, rows) -> None:
        """Refuse a tokenizer that maps most of the training text to its unknown token: one that
        does not belong to the data (or a checkpoint's stand-in), with which nothing is learned."""
        unknown_token = getattr(self.tokenizer.model, "unk_token", None)
        unknown = self.tokenizer.token_to_id(unknown_token) if unknown_token else None
        if unknown is None or not rows:
            return
        specials = self.tokenizer.num_special_tokens_to_add(False) * len(rows)
        tokens = sum(len(row) for row in rows) - specials
        share = sum(int((np.asarray(row) == unknown).sum()) for row in rows) / max(tokens, 1)
        if share > MAX_UNKNOWN_SHARE:
            raise UserError(f"{self.tokenizer_description()} "
                            f"maps {share:.0%} of the training text of data={self.name} to "
                            f"{unknown_token}: it does not belong to this data. Use the tokenizer saved "
                            "with the checkpoint, or a tokenizer trained on text like this.")

    def tokenize_settings(self) -> dict:
        """Everything besides the data and the tokenizer that changes ``tokenize``'s output (part
        of the token-cache key)."""
        return {"max_length": self.max_length}

    def tokenizer_description(self) -> str:
        source = self.tokenizer_spec.settings().get("name_or_path")
        return f"the tokenizer of model.pretrained={source}" if source else "the tokenizer"

    def task_arguments(self) -> dict:
        return {"label_names": self.label_names}

    # -- loaders ---------------------------------------------------------------------------
    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        dataset = self.datasets[split]
        lengths = [len(ids) for ids in dataset.ids] if self.bucket_batches else None
        if shuffle:
            sampler = EpochShuffleSampler(len(dataset), self.data_seed, batch_size,
                                          lambda: self.trainer, lengths, self.bucket_batches)
        elif self.bucket_batches:  # evaluation in length order: same predictions, less padding
            sampler = sorted(range(len(dataset)), key=lengths.__getitem__)
        else:
            sampler = None
        return self.loader(dataset, batch_size, sampler, self.collate())

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("dev", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, shuffle=False)


def _flat(labels: list) -> list[int]:
    """Every label of a split: one per example, or one per word (lists) for token tasks."""
    return [label for item in labels for label in (item if isinstance(item, (list, tuple)) else [item])]
