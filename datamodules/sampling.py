"""The training order: a fresh shuffle per epoch, seeded, and resumable in the middle of an epoch.

Epoch e visits the examples in ``randperm(n)`` drawn from a generator seeded with
(``seed``, e), so the order depends on the seed and the epoch only, never on what ran before.
When Lightning resumes from a checkpoint written mid-epoch, its loop reports how many batches of
the epoch are already done; the sampler skips exactly those, so a resumed run sees the batches an
uninterrupted run would have seen (Lightning otherwise warns that the loader "is not resumable"
and replays the epoch from its start).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytorch_lightning as pl
import torch
from torch.utils.data import Sampler


class EpochShuffleSampler(Sampler[int]):
    def __init__(self, size: int, seed: int, batch_size: int,
                 trainer: Callable[[], pl.Trainer | None] = lambda: None):
        self.size, self.seed, self.batch_size = size, seed, batch_size
        self._trainer = trainer

    def _position(self) -> tuple[int, int]:
        """(epoch, batches of it already trained) from the attached trainer; (0, 0) without one."""
        trainer = self._trainer()
        if trainer is None or not trainer.training:
            return 0, 0
        done = trainer.fit_loop.epoch_loop.batch_progress.current.completed
        return trainer.current_epoch, done

    def __iter__(self) -> Iterator[int]:
        epoch, done = self._position()
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(self.size, generator=generator)
        return iter(order[done * self.batch_size:].tolist())

    def __len__(self) -> int:
        return self.size
