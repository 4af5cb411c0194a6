"""Stop a run whose training loss becomes NaN or infinite, instead of recording garbage."""

from __future__ import annotations

import pytorch_lightning as pl
import torch


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


class FiniteLossGuard(pl.Callback):
    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        diverged = loss is not None and not bool(torch.isfinite(loss.detach()).all())
        if trainer.strategy.reduce_boolean_decision(diverged, all=False):
            raise TrainingDiverged(
                f"the training loss became {float(loss.detach())} at step {trainer.global_step} "
                f"(epoch {trainer.current_epoch}); lower model.optimizer.lr, keep "
                "trainer.gradient_clip_val on, or use trainer.precision=32-true")
