"""Save ``last.ckpt`` when the job is about to be preempted or time out, then let it be requeued.

SLURM (through submitit, ``--signal=USR2@<delay>``) warns a job with SIGUSR2 before killing it.
submitit handles that signal itself to requeue the job, so Lightning's own auto-requeue never
fires (submitit #1709) and nothing would be saved. This callback takes the signal first: at the
end of the current training step it writes ``<checkpoints>/last.ckpt`` (all ranks agree to stop),
then hands the signal to the previous handler (submitit requeues the job into the same run
directory, where ``ckpt_path=auto`` resumes from that checkpoint). Without a previous handler
the job exits with status 3 after saving.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import pytorch_lightning as pl

log = logging.getLogger(__name__)
EXIT_AFTER_SAVE = 3


class CheckpointOnSignal(pl.Callback):
    def __init__(self, signal_name: str = "SIGUSR2", dirpath: str | None = None):
        self.signal_number = signal.Signals[signal_name]
        self.dirpath = dirpath
        self._received = False
        self._previous = None

    def _on_signal(self, signum, frame) -> None:
        self._received = True

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._previous = signal.signal(self.signal_number, self._on_signal)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._previous is not None:
            signal.signal(self.signal_number, self._previous)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        stop = trainer.strategy.reduce_boolean_decision(self._received, all=False)
        if not stop:
            return
        dirpath = Path(self.dirpath or Path(trainer.default_root_dir) / "checkpoints")
        trainer.save_checkpoint(str(dirpath / "last.ckpt"))
        log.warning("%s received: saved %s at step %d; the job can be resumed from it",
                    self.signal_number.name, dirpath / "last.ckpt", trainer.global_step)
        previous, self._previous = self._previous, None
        signal.signal(self.signal_number, previous or signal.SIG_DFL)
        if callable(previous):
            previous(self.signal_number, None)   # submitit: requeue, then exit
        sys.exit(EXIT_AFTER_SAVE)
