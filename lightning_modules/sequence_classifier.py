"""Sequence classification task: an encoder, a linear head, cross-entropy, and the run record."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from homogenization.run_record import write_predictions, write_representations


class SequenceClassifier(pl.LightningModule):
    """Classify each sequence from the encoder's pooled representation.

    ``optimizer`` and ``scheduler`` are partials from config (``_partial_: true``): the optimizer
    receives the parameter groups, the scheduler the optimizer and the number of training steps.
    After ``trainer.test`` with ``record_dir`` set, the test predictions and representations are
    in ``record_dir`` (one row per test example, ordered by example id, written once).
    """

    task = "sequence_classification"

    def __init__(
        self,
        encoder: nn.Module,
        num_labels: int,
        optimizer: Callable,
        scheduler: Callable | None = None,
        head_dropout: float = 0.1,
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["encoder", "optimizer", "scheduler"])
        self.encoder = encoder
        self.head = nn.Sequential(nn.Dropout(head_dropout),
                                  nn.Linear(encoder.hidden_size, num_labels))
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        metrics = MetricCollection({
            "acc": MulticlassAccuracy(num_labels, average="micro"),
            "f1": MulticlassF1Score(num_labels, average="macro"),
        })
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        self.record_dir: Path | None = None
        self._test_outputs: list[dict[str, torch.Tensor]] = []

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        """Return (logits, pooled representation)."""
        representation = self.encoder.sequence_representation(input_ids, attention_mask)
        return self.head(representation), representation

    def _step(self, batch: dict[str, torch.Tensor]):
        logits, representation = self(batch["input_ids"], batch["attention_mask"])
        loss = nn.functional.cross_entropy(logits, batch["labels"])
        return loss, logits, representation

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, _, _ = self._step(batch)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True,
                 batch_size=len(batch["labels"]))
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        loss, logits, _ = self._step(batch)
        self.val_metrics.update(logits, batch["labels"])
        self.log("val/loss", loss, prog_bar=True, batch_size=len(batch["labels"]), sync_dist=True)
        self.log_dict(self.val_metrics, prog_bar=True)

    def on_test_epoch_start(self) -> None:
        self._test_outputs = []

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        loss, logits, representation = self._step(batch)
        self.test_metrics.update(logits, batch["labels"])
        self.log("test/loss", loss, batch_size=len(batch["labels"]), sync_dist=True)
        self.log_dict(self.test_metrics)
        self._test_outputs.append({
            "example_id": batch["example_id"],
            "label": batch["labels"],
            "pred": logits.argmax(dim=-1),
            "probs": logits.float().softmax(dim=-1),
            "representation": representation.float(),
        })

    def on_test_epoch_end(self) -> None:
        if self.record_dir is None or not self._test_outputs:
            return
        columns = {name: torch.cat([out[name] for out in self._test_outputs])
                   for name in self._test_outputs[0]}
        if self.trainer.world_size > 1:  # every rank holds a padded shard: gather, then dedupe
            columns = {name: self.all_gather(value).flatten(0, 1)
                       for name, value in columns.items()}
        self._test_outputs = []
        if not self.trainer.is_global_zero:
            return
        arrays = {name: value.cpu().numpy() for name, value in columns.items()}
        _, first = np.unique(arrays["example_id"], return_index=True)  # sorted by example id
        arrays = {name: value[first] for name, value in arrays.items()}
        representation = arrays.pop("representation")
        write_representations(self.record_dir, "test", representation)
        write_predictions(self.record_dir, "test", {
            "example_id": arrays["example_id"].astype(np.int64),
            "label": arrays["label"].astype(np.int64),
            "pred": arrays["pred"].astype(np.int64),
            "probs": arrays["probs"].astype(np.float32),
        })

    def configure_optimizers(self):
        """AdamW-style parameter groups: no weight decay on biases and normalization weights."""
        trainable = [(name, p) for name, p in self.named_parameters() if p.requires_grad]
        groups = [
            {"params": [p for _, p in trainable if p.ndim >= 2]},
            {"params": [p for _, p in trainable if p.ndim < 2], "weight_decay": 0.0},
        ]
        optimizer = self.optimizer_factory(groups)
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(
            optimizer, num_training_steps=self.trainer.estimated_stepping_batches
        )
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
