"""DataModule for masked-LM pretraining on plain-text corpora.

Reads one document or paragraph per line (blank lines skipped), optionally adds the text column
of a task's training file, trains a WordPiece vocabulary on it, and packs the token stream into
fixed-length blocks ``[CLS] ... [SEP]``. A deterministic fraction of the lines is held out for
validation, with masks drawn once so the held-out loss is comparable across epochs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from datamodules.base import TextDataModule
from datamodules.readers import physical_lines, read_labelled_table, read_text_file
from datamodules.sampling import EpochShuffleSampler
from datamodules.tokenization import CLS, MASK, PAD, SEP, UNK
from homogenization.core.errors import UserError
from homogenization.core.fingerprints import fingerprint

log = logging.getLogger(__name__)


def read_corpus_lines(path: str | Path, encoding: str, key: str) -> list[str]:
    lines = [line.strip() for line in physical_lines(read_text_file(path, encoding, key))]
    lines = [line for line in lines if line]
    if not lines:
        raise UserError(f"{path}: no text in the file. Check {key}.")
    return lines


def pack_blocks(token_ids: list[list[int]], block_size: int, cls_id: int, sep_id: int) -> np.ndarray:
    """Concatenate documents (each followed by [SEP]) and cut [CLS] + block_size-2 + [SEP] blocks;
    the incomplete last block is dropped."""
    body = block_size - 2
    stream = np.fromiter((t for ids in token_ids for t in (*ids, sep_id)), dtype=np.int64)
    blocks = stream[: len(stream) // body * body].reshape(-1, body)
    column = np.full((len(blocks), 1), cls_id), np.full((len(blocks), 1), sep_id)
    return np.concatenate([column[0], blocks, column[1]], axis=1)


class CorpusDataModule(TextDataModule):
    """Blocks of a plain-text corpus for masked-LM training (15% of tokens: 80% [MASK],
    10% random token, 10% unchanged, via ``transformers.DataCollatorForLanguageModeling``)."""


    def __init__(
        self,
        name: str,
        files: list[str],
        tokenizer,
        task_texts: list[dict] | None = None,
        encoding: str = "utf-8",
        block_size: int = 128,
        heldout_fraction: float = 0.05,
        mlm_probability: float = 0.15,
        batch_size: int = 32,
        eval_batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = False,
        data_seed: int = 0,
    ):
        super().__init__(name, tokenizer, encoding, batch_size, eval_batch_size, num_workers, pin_memory,
                         data_seed)
        if not files:
            raise UserError("data.files is empty: list at least one plain-text file.")
        if block_size < 16:
            raise UserError(f"data.block_size={block_size} is too small; use at least 16 (64 or more "
                            "is usual).")
        if not 0 < heldout_fraction < 1:
            raise UserError(f"data.heldout_fraction={heldout_fraction} must be in (0, 1).")
        if not 0 < mlm_probability < 1:
            raise UserError(f"data.mlm_probability={mlm_probability} must be in (0, 1).")
        self.files = [Path(f) for f in files]
        self.task_texts = list(task_texts or [])
        self.block_size = block_size
        self.heldout_fraction = heldout_fraction
        self.mlm_probability = mlm_probability
        self.blocks: dict[str, torch.Tensor] = {}

    def _read(self) -> list[str]:
        lines = []
        for i, path in enumerate(self.files):
            lines += read_corpus_lines(path, self.encoding, f"data.files[{i}]")
        for i, table in enumerate(self.task_texts):  # e.g. SST-2's training sentences
            options = {"delimiter": "\t", "header": True, "quotechar": None, **table}
            path = options.pop("path")
            lines += read_labelled_table(path, encoding=self.encoding,
                                         key=f"data.task_texts[{i}].path", **options).texts
        return lines

    def setup(self, stage: str | None = None) -> None:
        if self.blocks:
            return
        lines = self._read()
        heldout = np.random.default_rng(0).random(len(lines)) < self.heldout_fraction
        splits = {"train": [t for t, h in zip(lines, heldout) if not h],
                  "validation": [t for t, h in zip(lines, heldout) if h]}
        self.fingerprints = {name: fingerprint((text, "") for text in texts)
                             for name, texts in splits.items()}
        self.tokenizer = self.tokenizer_spec.build(splits["train"])
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        cls_id, sep_id = self.tokenizer.token_to_id(CLS), self.tokenizer.token_to_id(SEP)
        for name, texts in splits.items():
            ids = [e.ids for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]
            blocks = pack_blocks(ids, self.block_size, cls_id, sep_id)
            if len(blocks) == 0:
                raise UserError(f"the {name} part of the corpus is shorter than one block of "
                                f"data.block_size={self.block_size} tokens; add text.")
            self.blocks[name] = torch.from_numpy(blocks)
        self.sizes = {name: len(blocks) for name, blocks in self.blocks.items()}
        self.heldout = self._mask(self.blocks["validation"], seed=0)
        log.info("Corpus %s: %s blocks of %d tokens", self.name, self.sizes, self.block_size)

    def hf_tokenizer(self):
        """The tokenizer as a ``transformers`` fast tokenizer with BERT's special tokens."""
        from transformers import PreTrainedTokenizerFast

        return PreTrainedTokenizerFast(
            tokenizer_object=self.tokenizer, unk_token=UNK, pad_token=PAD, cls_token=CLS,
            sep_token=SEP, mask_token=MASK, model_max_length=512,
        )

    def _collator(self, seed: int):
        from transformers import DataCollatorForLanguageModeling

        return DataCollatorForLanguageModeling(
            self.hf_tokenizer(), mlm_probability=self.mlm_probability, seed=seed)

    def _mask(self, blocks: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
        return self._collator(seed)([{"input_ids": row} for row in blocks])

    def train_dataloader(self) -> DataLoader:
        collator = self._collator(self.data_seed)
        rows = [{"input_ids": row} for row in self.blocks["train"]]
        sampler = EpochShuffleSampler(len(rows), self.data_seed, self.batch_size, lambda: self.trainer)
        return self.loader(rows, self.batch_size, sampler, collator)

    def val_dataloader(self) -> DataLoader:
        dataset = TensorDataset(self.heldout["input_ids"], self.heldout["labels"])
        return self.loader(dataset, self.eval_batch_size, None, stack_masked)


def stack_masked(rows: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Held-out blocks were masked once in set-up; batches only stack them."""
    return {"input_ids": torch.stack([row[0] for row in rows]),
            "labels": torch.stack([row[1] for row in rows])}
