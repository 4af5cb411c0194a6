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


class PadToLongest:
    """Pad a batch to its own longest sequence (not a global maximum)."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        longest = max(len(example["input_ids"]) for example in examples)
        input_ids = np.full((len(examples), longest), self.pad_token_id, dtype=np.int64)
        attention_mask = np.zeros((len(examples), longest), dtype=np.int64)
        for row, example in enumerate(examples):
            length = len(example["input_ids"])
            input_ids[row, :length] = example["input_ids"]
            attention_mask[row, :length] = 1
        return {
            "input_ids": torch.from_numpy(input_ids),
            "attention_mask": torch.from_numpy(attention_mask),
            "labels": torch.tensor([example["label"] for example in examples], dtype=torch.long),
            "example_id": torch.tensor([example["example_id"] for example in examples]),
        }


class TokenizedWords(Dataset):
    """Sub-word ids of each sentence and the word each sub-word belongs to.

    Only the first sub-word of a word carries its label and its ``word_index``; other sub-words
    and special tokens get label -100 (ignored by the loss) and word index -1.
    """

    def __init__(self, ids: Sequence[Sequence[int]], word_ids: Sequence[Sequence[int]],
                 word_labels: Sequence[Sequence[int]]):
        self.ids = ids
        self.word_ids = word_ids
        self.word_labels = word_labels

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict:
        words = np.asarray(self.word_ids[index])
        previous = np.concatenate([[-1], words[:-1]])
        first = (words >= 0) & (words != previous)
        word_index = np.where(first, words, -1)
        labels = np.full(len(words), -100, dtype=np.int64)
        labels[first] = np.asarray(self.word_labels[index], dtype=np.int64)[words[first]]
        return {"example_id": index, "input_ids": self.ids[index], "labels": labels,
                "word_index": word_index}


class PadWordBatch:
    """Pad a batch of sentences to its longest; labels pad with -100, word indices with -1."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        longest = max(len(example["input_ids"]) for example in examples)
        shape = (len(examples), longest)
        input_ids = np.full(shape, self.pad_token_id, dtype=np.int64)
        attention_mask = np.zeros(shape, dtype=np.int64)
        labels = np.full(shape, -100, dtype=np.int64)
        word_index = np.full(shape, -1, dtype=np.int64)
        for row, example in enumerate(examples):
            length = len(example["input_ids"])
            input_ids[row, :length] = example["input_ids"]
            attention_mask[row, :length] = 1
            labels[row, :length] = example["labels"]
            word_index[row, :length] = example["word_index"]
        return {
            "input_ids": torch.from_numpy(input_ids),
            "attention_mask": torch.from_numpy(attention_mask),
            "labels": torch.from_numpy(labels),
            "word_index": torch.from_numpy(word_index),
            "example_id": torch.tensor([example["example_id"] for example in examples]),
        }
