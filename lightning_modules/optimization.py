"""Optimizer set-up shared by every task, and the learning-rate schedules.

The optimizer and the schedule are partials built from config (``_partial_: true``): the
optimizer is completed with parameter groups, the schedule with the optimizer and step count.
"""

from __future__ import annotations

from collections.abc import Callable

import pytorch_lightning as pl
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from homogenization.core.errors import UserError


def linear_warmup_decay(
    optimizer: Optimizer, num_training_steps: int, warmup_fraction: float = 0.1
) -> LambdaLR:
    """Linear warm-up from 0 over ``warmup_fraction`` of the steps, then linear decay to 0:
    ``transformers.get_linear_schedule_with_warmup``, the Hugging Face Trainer's default schedule,
    so a run here and a Trainer run with the same settings see the same learning rates."""
    from transformers import get_linear_schedule_with_warmup

    if not 0 <= warmup_fraction < 1:
        raise UserError(f"model.scheduler.warmup_fraction={warmup_fraction} must be in [0, 1).")
    total = max(int(num_training_steps), 1)
    return get_linear_schedule_with_warmup(optimizer, int(warmup_fraction * total), total)


def configure_optimizers(module: pl.LightningModule, optimizer: Callable,
                         scheduler: Callable | None):
    """AdamW-style parameter groups (no weight decay on biases and normalization weights),
    frozen parameters left out, and the schedule stepped every batch."""
    trainable = [p for p in module.parameters() if p.requires_grad]
    built = optimizer([
        {"params": [p for p in trainable if p.ndim >= 2]},
        {"params": [p for p in trainable if p.ndim < 2], "weight_decay": 0.0},
    ])
    if scheduler is None:
        return built
    schedule = scheduler(built, num_training_steps=module.trainer.estimated_stepping_batches)
    return {"optimizer": built, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
