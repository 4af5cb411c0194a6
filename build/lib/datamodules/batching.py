"""Datasets of tokenized examples and the collate function that pads each batch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset


class TokenizedExamples(Dataset):
    """Token ids and label of each example; ``example_id`` is the row index in its split."""

    def __init__(self, ids: Sequence[Sequence[int]], labels: Sequence[int]):
        if len(ids) != len(labels):
            raise ValueError(f"{len(ids)} token rows but {len(labels)} labels")
        self.ids = ids
        self.labels = labels

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict:
        return {"example_id": index, "input_ids": self.ids[index], "label": self.labels[index]}


def pad(rows: Sequence[Sequence[int]], length: int, fill: int) -> torch.Tensor:
    """int64 [len(rows), length]: each row left-aligned, the rest ``fill``."""
    out = np.full((len(rows), length), fill, dtype=np.int64)
    for index, row in enumerate(rows):
        out[index, : len(row)] = row
    return torch.from_numpy(out)


def padded_inputs(examples: list[dict], pad_token_id: int) -> tuple[dict[str, torch.Tensor], int]:
    """``input_ids``, ``attention_mask`` and ``example_id`` of a batch padded to its own longest
    sequence (not a global maximum), and that length."""
    ids = [example["input_ids"] for example in examples]
    longest = max(len(row) for row in ids)
    return {"input_ids": pad(ids, longest, pad_token_id),
            "attention_mask": pad([np.ones(len(row), dtype=np.int64) for row in ids], longest, 0),
            "example_id": torch.tensor([example["example_id"] for example in examples])}, longest


class PadToLongest:
    """Pad a batch of texts to its longest; one label per text."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        inputs, _ = padded_inputs(examples, self.pad_token_id)
        labels = torch.tensor([example["label"] for example in examples], dtype=torch.long)
        return {**inputs, "labels": labels}


class TokenizedWords(Dataset):
    """Rows of sub-word ids, the word each sub-word belongs to, and the sentence of each row (a
    long sentence may be split into several rows, windows; by default row i is sentence i).

    Only the first sub-word of a word carries its label and its ``word_index``; other sub-words,
    special tokens and words another window predicts get label -100 (ignored by the loss) and word
    index -1. ``example_id`` is the sentence index.
    """

    def __init__(self, ids: Sequence[Sequence[int]], word_ids: Sequence[Sequence[int]],
                 word_labels: Sequence[Sequence[int]], sentences: Sequence[int] | None = None):
        self.ids = ids
        self.word_ids = word_ids
        self.word_labels = word_labels
        self.sentences = list(range(len(ids))) if sentences is None else list(sentences)
        if len(self.sentences) != len(ids):
            raise ValueError(f"{len(ids)} token rows but {len(self.sentences)} sentence indices")

    @property
    def windowed_sentences(self) -> int:
        """How many sentences were split into more than one row."""
        return int((np.bincount(self.sentences) > 1).sum()) if self.sentences else 0

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict:
        sentence = self.sentences[index]
        words = np.asarray(self.word_ids[index])
        previous = np.concatenate([[-1], words[:-1]])
        first = (words >= 0) & (words != previous)
        word_index = np.where(first, words, -1)
        labels = np.full(len(words), -100, dtype=np.int64)
        labels[first] = np.asarray(self.word_labels[sentence], dtype=np.int64)[words[first]]
        return {"example_id": sentence, "input_ids": self.ids[index], "labels": labels,
                "word_index": word_index}


class PadWordBatch:
    """Pad a batch of sentences to its longest; labels pad with -100, word indices with -1."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        inputs, longest = padded_inputs(examples, self.pad_token_id)
        return {**inputs, "labels": pad([example["labels"] for example in examples], longest, -100),
                "word_index": pad([example["word_index"] for example in examples], longest, -1)}
