"""Lightning's learning-rate monitor, off (instead of an error) when the job has no logger."""

from __future__ import annotations

import logging

import pytorch_lightning as pl
from pytorch_lightning.callbacks import LearningRateMonitor

log = logging.getLogger(__name__)


class LearningRateMonitorWhenLogged(LearningRateMonitor):
    """``LearningRateMonitor`` raises when the trainer has no logger (``logger=null``, the
    default); this one logs the learning rates when there is a logger and does nothing otherwise."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.active = True

    def on_train_start(self, trainer: pl.Trainer, *args, **kwargs) -> None:
        self.active = bool(trainer.loggers)
        if not self.active:
            log.info("No logger configured: the learning-rate monitor is off.")
            return
        super().on_train_start(trainer, *args, **kwargs)

    def on_train_batch_start(self, trainer: pl.Trainer, *args, **kwargs) -> None:
        if self.active:
            super().on_train_batch_start(trainer, *args, **kwargs)

    def on_train_epoch_start(self, trainer: pl.Trainer, *args, **kwargs) -> None:
        if self.active:
            super().on_train_epoch_start(trainer, *args, **kwargs)
