"""Sequence classification: one label per text from the encoder's pooled representation."""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from lightning_modules.task import ClassificationTask
from lightning_modules.test_records import gather_rows


class SequenceClassifier(ClassificationTask):
    """Cross-entropy on the pooled representation; accuracy and macro-F1 for val and test.

    The run record gets one row per test example: ``example_id, label, pred, probs`` and the
    pooled representation.
    """

    key_columns = ("example_id",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        num_labels = len(self.label_names)
        metrics = MetricCollection({
            "acc": MulticlassAccuracy(num_labels, average="micro"),
            "f1": MulticlassF1Score(num_labels, average="macro"),
        })
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        """Return (logits [B, C], pooled representation [B, H])."""
        representation = self.encoder.sequence_representation(input_ids, attention_mask)
        return self.head(representation), representation

    def _step(self, batch: dict[str, torch.Tensor]):
        logits, representation = self(batch["input_ids"], batch["attention_mask"])
        loss = nn.functional.cross_entropy(logits, batch["labels"])
        return loss, logits, representation

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        loss, logits, _ = self._step(batch)
        self.val_metrics.update(logits, batch["labels"])
        self.log("val/loss", loss, prog_bar=True, batch_size=len(batch["labels"]), sync_dist=True)
        self.log_dict(self.val_metrics, prog_bar=True)

    def test_rows_of(self, batch: dict[str, torch.Tensor], with_layers: bool = True):
        """(loss, logits, the batch's test rows: one per example)."""
        loss, logits, representation = self._step(batch)
        return loss, logits, {
            "example_id": batch["example_id"],
            "label": batch["labels"],
            "pred": logits.argmax(dim=-1),
            "probs": logits.float().softmax(dim=-1),
            "representation": representation.float(),
            **(self.layer_rows(batch, per_token=False, select=lambda states: states) if with_layers else {}),
        }

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        loss, logits, rows = self.test_rows_of(batch)
        self.test_metrics.update(logits, batch["labels"])
        self.log("test/loss", loss, batch_size=len(batch["labels"]), sync_dist=True)
        self.log_dict(self.test_metrics)
        self._test_outputs.append(rows)

    def on_test_epoch_end(self) -> None:
        outputs, self._test_outputs = self._test_outputs, []
        if outputs:
            self.test_rows = gather_rows(self, outputs, key=self.key_columns)
