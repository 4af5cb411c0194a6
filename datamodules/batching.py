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
