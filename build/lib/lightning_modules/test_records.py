"""Collect a task's test outputs from every process, once per unit, in a stable order."""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch


def _all_gather_rows(module: pl.LightningModule, value: torch.Tensor) -> torch.Tensor:
    """Concatenate ``value`` [n, ...] over processes; n may differ between processes."""
    count = torch.tensor([value.shape[0]], device=value.device)
    counts = module.all_gather(count).flatten().tolist()
    padded = value.new_zeros((max(counts), *value.shape[1:]))
    padded[: value.shape[0]] = value
    gathered = module.all_gather(padded)
    return torch.cat([gathered[rank, :n] for rank, n in enumerate(counts)])


def gather_rows(module: pl.LightningModule, outputs: list[dict[str, torch.Tensor]],
                key: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """Rows from all processes, each ``key`` once (the distributed sampler pads with
    duplicates), sorted by ``key``. None on processes other than rank 0."""
    columns = {name: torch.cat([out[name] for out in outputs]) for name in outputs[0]}
    if module.trainer.world_size > 1:
        columns = {name: _all_gather_rows(module, value) for name, value in columns.items()}
    if not module.trainer.is_global_zero:
        return None
    arrays = {name: value.detach().cpu().numpy() for name, value in columns.items()}
    keys = np.stack([arrays[name] for name in key], axis=1)
    _, first = np.unique(keys, axis=0, return_index=True)  # sorted by key
    return {name: value[first] for name, value in arrays.items()}
