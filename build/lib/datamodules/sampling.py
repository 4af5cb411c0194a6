"""The training order: a fresh shuffle per epoch, seeded, and resumable in the middle of an epoch.

Epoch e visits the examples in ``randperm(n)`` drawn from a generator seeded with
(``seed``, e), so the order depends on the seed and the epoch only, never on what ran before.
When Lightning resumes from a checkpoint written mid-epoch, its loop reports how many batches of
the epoch are already done; the sampler skips exactly those, so a resumed run sees the batches an
uninterrupted run would have seen (Lightning otherwise warns that the loader "is not resumable"
and replays the epoch from its start). Under DDP the epoch is replayed: Lightning's
DistributedSamplerWrapper indexes this sampler's full list, so nothing may be skipped.

Length bucketing (``bucket_batches = k > 0``): the epoch's shuffled order is cut into windows of k
batches; each window is sorted by length and cut into batches, and the full batches of all
windows are shuffled (the one short batch stays last, so the DataLoader cuts the same batches).
A batch then holds sentences of similar length and needs little padding, while every batch is
still a random draw. Under DDP with W processes, Lightning's DistributedSamplerWrapper gives rank
r every W-th index of this order (it does not shuffle a custom sampler), so the buckets are cut
into global batches of W x batch_size: the W ranks' batches of a step come from one bucket.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pytorch_lightning as pl
import torch
from torch.utils.data import Sampler

from homogenization.core.errors import UserError


class EpochShuffleSampler(Sampler[int]):
    def __init__(self, size: int, seed: int, batch_size: int,
                 trainer: Callable[[], pl.Trainer | None] = lambda: None,
                 lengths: Sequence[int] | None = None, bucket_batches: int = 0):
        if bucket_batches < 0:
            raise UserError(f"data.bucket_batches={bucket_batches} must be 0 (off) or positive.")
        if bucket_batches and (lengths is None or len(lengths) != size):
            raise ValueError("length bucketing needs one length per example")
        self.size, self.seed, self.batch_size = size, seed, batch_size
        self._trainer = trainer
        self.bucket_batches = bucket_batches
        self.lengths = torch.as_tensor(lengths) if bucket_batches else None

    def _position(self) -> tuple[int, int, int]:
        """(epoch, batches of it already trained, processes) from the attached trainer;
        (0, 0, 1) without one."""
        trainer = self._trainer()
        if trainer is None or not trainer.training:
            return 0, 0, 1
        done = trainer.fit_loop.epoch_loop.batch_progress.current.completed
        return trainer.current_epoch, done, trainer.world_size

    def __iter__(self) -> Iterator[int]:
        epoch, done, processes = self._position()
        order = self.order(epoch, processes)
        if processes > 1:  # the DistributedSamplerWrapper shards the whole list
            return iter(order.tolist())
        return iter(order[done * self.batch_size:].tolist())

    def order(self, epoch: int, processes: int = 1) -> torch.Tensor:
        """Every index once: the order of ``epoch`` (bucketed in global batches of
        ``processes x batch_size``)."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(self.size, generator=generator)
        if not self.bucket_batches:
            return order
        global_batch = self.batch_size * processes
        batches = []
        for chunk in order.split(global_batch * self.bucket_batches):
            by_length = chunk[torch.argsort(self.lengths[chunk], stable=True)]
            batches.extend(by_length.split(global_batch))
        short = [batch for batch in batches if len(batch) < global_batch]
        full = [batch for batch in batches if len(batch) == global_batch]
        shuffled = [full[i] for i in torch.randperm(len(full), generator=generator)]
        return torch.cat(shuffled + short)

    def __len__(self) -> int:
        return self.size
