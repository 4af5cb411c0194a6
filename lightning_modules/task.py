"""What every task shares: an encoder, a linear head, the optimizer set-up, the record folder."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn

from lightning_modules.optimization import configure_optimizers


class ClassificationTask(pl.LightningModule):
    """Base of the tasks. ``optimizer`` and ``scheduler`` are partials from config
    (``_partial_: true``): the optimizer receives parameter groups, the scheduler the optimizer
    and the number of training steps. After ``trainer.test``, rank 0 holds ``test_rows``: the
    ``key_columns``, label, prediction, probabilities and representation of every tested unit, once
    each, for the recipe to record (core.run_record.write_test_record).
    """

    task: str
    key_columns: tuple[str, ...]

    def __init__(
        self,
        encoder: nn.Module,
        label_names: list[str],
        optimizer: Callable,
        scheduler: Callable | None = None,
        head_dropout: float = 0.1,
    ):
        super().__init__()
        self.label_names = [str(name) for name in label_names]  # not a ListConfig: checkpoints
        self.save_hyperparameters(  # load with weights_only=True only when they hold plain data
            {"label_names": self.label_names, "head_dropout": head_dropout})
        self.encoder = encoder
        self.head = nn.Sequential(nn.Dropout(head_dropout),
                                  nn.Linear(encoder.hidden_size, len(self.label_names)))
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self._test_outputs: list[dict[str, torch.Tensor]] = []
        self.test_rows: dict[str, np.ndarray] | None = None
        self.test_report: str | None = None

    def on_test_epoch_start(self) -> None:
        self._test_outputs = []
        self.test_rows = None

    def configure_optimizers(self):
        return configure_optimizers(self, self.optimizer_factory, self.scheduler_factory)
