"""What every task shares: the optimizer set-up, the training step, and the finish step.

A task is the LightningModule of one kind of training (conf/task/<name>.yaml names it). The recipe
fits it, then calls :meth:`Task.finish`, which every task implements: classification tests the
best checkpoint and hands over its test rows, masked-LM pretraining exports the best checkpoint.
The recipe records what ``finish`` returns (core.run_record), so no task writes a record itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn

from homogenization.core.errors import UserError
from homogenization.core.run_record import RecordError
from lightning_modules.optimization import configure_optimizers


@dataclass
class Finished:
    """What a task's finish step produced, for the run record.

    ``test_rows``: the ``key_columns``, label, prediction, probabilities and representation of
    every tested unit (rank 0), to be checked against ``expected_units``; ``test_texts``: the text
    of each test item (an example's text, a sentence's words); ``files``: extra text files for the
    run directory (name -> content); ``export``: a directory the task wrote."""

    metrics: dict[str, float]
    checkpoint: str | None
    test_rows: dict[str, np.ndarray] | None = None
    key_columns: tuple[str, ...] = ()
    expected_units: int | None = None
    test_texts: list | None = None
    export: Path | None = None
    files: dict[str, str] = field(default_factory=dict)


class Task(pl.LightningModule):
    """Base of every task. ``optimizer`` and ``scheduler`` are partials from config
    (``_partial_: true``): the optimizer receives parameter groups, the scheduler the optimizer
    and the number of training steps. A subclass defines ``loss(batch)`` and ``finish``."""

    def __init__(self, optimizer: Callable, scheduler: Callable | None = None):
        super().__init__()
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True,
                 batch_size=len(batch["input_ids"]))
        return loss

    def configure_optimizers(self):
        return configure_optimizers(self, self.optimizer_factory, self.scheduler_factory)

    def finish(self, trainer: pl.Trainer, datamodule, run_dir: Path, best: str | None) -> Finished:
        """After fitting: evaluate (or export) the best checkpoint ``best``."""
        raise NotImplementedError


def layers_to_record(spec: str | list[int] | None, layer_count: int | None) -> list[int]:
    """``record.layers``: ``none`` (or null), ``all``, or a list of layer indices 0..L (0 is the
    embedding output); the indices, checked against the encoder's ``layer_count`` (L + 1)."""
    if spec is None or spec == "none":
        return []
    if layer_count is None:
        raise UserError("record.layers: this encoder does not expose its layers; use record.layers=none.")
    if spec == "all":
        return list(range(layer_count))
    if isinstance(spec, str) or not all(isinstance(k, int) for k in spec):
        raise UserError(f"record.layers={spec}: give none, all, or a list of layer indices like [0,2].")
    wrong = [k for k in spec if not 0 <= k < layer_count]
    if wrong:
        raise UserError(f"record.layers: {wrong} out of range; this encoder has layers 0..{layer_count - 1} "
                        "(0 = the embedding output).")
    return sorted(set(spec))


class ClassificationTask(Task):
    """Base of the labelled tasks: an encoder and a linear head. After ``trainer.test``, rank 0
    holds ``test_rows`` (every tested unit once) and, for some tasks, a ``test_report`` text."""

    key_columns: tuple[str, ...]

    def __init__(
        self,
        encoder: nn.Module,
        label_names: list[str],
        optimizer: Callable,
        scheduler: Callable | None = None,
        head_dropout: float = 0.1,
        record_layers: str | list[int] | None = None,
    ):
        super().__init__(optimizer, scheduler)
        self.recorded_layers = layers_to_record(record_layers, getattr(encoder, "layer_count", None))
        self.label_names = [str(name) for name in label_names]  # not a ListConfig: checkpoints
        self.save_hyperparameters(  # load with weights_only=True only when they hold plain data
            {"label_names": self.label_names, "head_dropout": head_dropout})
        self.encoder = encoder
        own_head = getattr(encoder, "head", None)     # a fine-tuned checkpoint's, over the data's labels
        self.head = own_head if own_head is not None else nn.Sequential(
            nn.Dropout(head_dropout), nn.Linear(encoder.hidden_size, len(self.label_names)))
        self._test_outputs: list[dict[str, torch.Tensor]] = []
        self.test_rows: dict[str, np.ndarray] | None = None
        self.test_report: str | None = None

    def _step(self, batch: dict[str, torch.Tensor]):
        """(loss, logits, representations) of a batch."""
        raise NotImplementedError

    def test_rows_of(self, batch: dict[str, torch.Tensor], with_layers: bool = True):
        """(loss, logits, the batch's test rows: key columns, label, pred, probs, representation
        and, with ``with_layers``, the recorded layers)."""
        raise NotImplementedError

    def layer_rows(self, batch: dict[str, torch.Tensor], per_token: bool,
                   select: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, torch.Tensor]:
        """``layer_<k>``: the recorded layers' representations of the batch's test rows (``select``
        picks them: each word's first sub-word for token tasks); none unless ``record.layers``."""
        if not self.recorded_layers:
            return {}
        layers = self.encoder.layer_representations(batch["input_ids"], batch["attention_mask"], per_token)
        return {f"layer_{k}": select(layers[k]).float() for k in self.recorded_layers}

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self._step(batch)[0]

    def on_test_epoch_start(self) -> None:
        self._test_outputs = []
        self.test_rows = None

    def finish(self, trainer: pl.Trainer, datamodule, run_dir: Path, best: str | None) -> Finished:
        """Test the best checkpoint; hand over the test rows."""
        metrics = trainer.test(self, datamodule=datamodule, ckpt_path=best, weights_only=True)[0]
        if trainer.is_global_zero and self.test_rows is None:
            raise RecordError("the test loop produced no rows (trainer.limit_test_batches=0?)")
        return Finished(metrics={name: float(value) for name, value in metrics.items()}, checkpoint=best,
                        test_rows=self.test_rows, key_columns=self.key_columns,
                        expected_units=datamodule.units["test"], test_texts=datamodule.texts_of("test"),
                        files={"test_report.txt": self.test_report} if self.test_report else {})
