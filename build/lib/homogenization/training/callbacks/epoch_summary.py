"""A one-line log per epoch (metrics and wall time), readable in cluster logs without a TTY."""

from __future__ import annotations

import logging
import time

import pytorch_lightning as pl

log = logging.getLogger("epoch")


class EpochSummary(pl.Callback):
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._started = time.perf_counter()   # a run resumed mid-epoch starts no new epoch

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._started = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        seconds = time.perf_counter() - self._started
        metrics = {name: float(value) for name, value in trainer.progress_bar_metrics.items()
                   if name.startswith(("val/", "train/loss_epoch"))}  # the headline metrics
        shown = "  ".join(f"{name}={value:.4f}" for name, value in sorted(metrics.items()))
        log.info("epoch %d: %s  (%.1f s, %d steps)", trainer.current_epoch, shown, seconds,
                 trainer.global_step)
