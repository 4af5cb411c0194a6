"""``record.every_epoch=true``: the test predictions and pooled representations at every epoch end.

After each epoch's validation, rank 0 runs the test split through the model (eval mode, no
gradients, the datamodule's own test loader) and writes ``predictions/test_epoch{e}.npz`` and
``representations/test_epoch{e}.npy`` (e = the epoch number, from 0), checked like the final
record's rows. The analysis then follows homogenization over training. Only rank 0 predicts
(the other ranks wait at the next step's collective), so the files never depend on the sharding.
A resumed job keeps the epochs its earlier attempt wrote.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from homogenization.core.run_record import write_epoch_predictions

log = logging.getLogger(__name__)


class TestEveryEpoch(pl.Callback):
    def __init__(self, dirpath: str, enabled: bool = False):
        self.run_dir = Path(dirpath)   # the run directory ("dirpath", like every callback's directory)
        self.enabled = enabled

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Tasks without labelled test predictions (masked-LM pretraining) ignore the option, in
        one line, so a study that sets it for its fine-tuning jobs still pretrains."""
        if self.enabled and not hasattr(pl_module, "test_rows_of"):
            log.info("record.every_epoch: ignored for %s (it records no test predictions)",
                     type(pl_module).__name__)
            self.enabled = False

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.enabled or trainer.sanity_checking or not trainer.is_global_zero:
            return
        training = pl_module.training
        pl_module.eval()
        outputs = []
        with torch.no_grad():
            for batch in trainer.datamodule.test_dataloader():
                batch = {name: value.to(pl_module.device) for name, value in batch.items()}
                outputs.append(pl_module.test_rows_of(batch, with_layers=False)[2])
        pl_module.train(training)
        rows = {name: torch.cat([out[name] for out in outputs]).cpu().numpy() for name in outputs[0]}
        order = np.lexsort([rows[key] for key in reversed(pl_module.key_columns)])
        rows = {name: values[order] for name, values in rows.items()}
        write_epoch_predictions(self.run_dir, trainer.current_epoch, rows, pl_module.key_columns,
                                len(pl_module.label_names))
