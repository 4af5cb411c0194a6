"""The one ``last.ckpt``: the newest training state, what ``ckpt_path=auto`` resumes.

Written every ``every_n_train_steps`` steps (so a crash loses at most that many) and at the end of
every epoch, after its validation, atomically (checkpoint_io.py), and after every other
callback's work of that step (the recipe puts it last; Lightning runs checkpoint callbacks after the
others): the best checkpoint's path and score, early stopping's counters and the RNG states it
holds are those of the same step as its weights, so a resumed job makes the same decisions as an
uninterrupted one. Lightning's ``ModelCheckpoint``
cannot be this owner: with ``save_last`` it refreshes ``last`` only when it also saved a top-k
checkpoint (Lightning 2.6), and two instances with ``save_last`` write ``last.ckpt`` and
``last-v1.ckpt``. The signal handler (preemption.py) writes the same file.
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Checkpoint

LAST = "last.ckpt"


class LastCheckpoint(Checkpoint):
    def __init__(self, dirpath: str, every_n_train_steps: int = 500):
        if every_n_train_steps < 1:
            raise ValueError(f"every_n_train_steps={every_n_train_steps} must be >= 1")
        self.path = Path(dirpath) / LAST
        self.every_n_train_steps = every_n_train_steps
        self._saved_step = -1

    def _save(self, trainer: pl.Trainer) -> None:
        if trainer.sanity_checking or trainer.global_step == self._saved_step or trainer.global_step == 0:
            return
        trainer.save_checkpoint(str(self.path), weights_only=False)   # the full training state
        self._saved_step = trainer.global_step

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step % self.every_n_train_steps == 0:
            self._save(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._save(trainer)
