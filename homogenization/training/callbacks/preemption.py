"""Stop training cleanly on a signal: save a resumable ``last.ckpt``, then end the job as interrupted.

SIGTERM (a scheduler, ``kill``, a shell closing) and SIGINT (Ctrl+C) are taken at the end of the
current training step (or epoch, or training): ``<checkpoints>/last.ckpt`` is written (all DDP
ranks agree to stop), and :class:`TrainingInterrupted` is raised. The recipe then writes
``run.json`` with ``status: interrupted`` and the entry point exits with 128 + the signal number;
the same command resumes from the checkpoint. Without this, Lightning turns SIGTERM into a
``SystemExit`` with status 0 and no record: a scheduler would have seen success.

SIGUSR2 is SLURM's warning before preemption or a time limit (``--signal=USR2@<delay>``).
submitit handles it to requeue the job, so Lightning's own auto-requeue never fires (submitit
#1709) and nothing would be saved. Here it is handled like SIGTERM, and the handler that was
installed before for it (submitit's: requeue, then exit) is kept on the exception, for the entry
point to call after the record is written. (The handlers of SIGTERM and SIGINT are not called:
Python's SIGINT handler would raise KeyboardInterrupt.)
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from pathlib import Path

import pytorch_lightning as pl

from homogenization.core.signals import Stopped, handler_to_chain

log = logging.getLogger(__name__)


class TrainingInterrupted(Stopped):
    """Training stopped on a signal after saving a resumable checkpoint."""

    def __init__(self, signal_number: int, checkpoint: str | None, step: int,
                 previous_handler: Callable | None = None):
        self.checkpoint = checkpoint
        self.step = step
        name = signal.Signals(signal_number).name
        saved = f"saved {checkpoint}" if checkpoint else "training was over, no checkpoint needed"
        super().__init__(signal_number, f"{name} received at step {step}: {saved}; run the same command to "
                         "resume", previous_handler)


class CheckpointOnSignal(pl.Callback):
    """``signal_names``: the signals that stop training (default SIGTERM, SIGINT, SIGUSR2)."""

    def __init__(self, signal_names: tuple[str, ...] | list[str] = ("SIGTERM", "SIGINT", "SIGUSR2"),
                 dirpath: str | None = None):
        self.signals = [signal.Signals[name] for name in signal_names]
        self.dirpath = dirpath
        self._received: int | None = None
        self._previous: dict[int, object] = {}

    def _on_signal(self, signum, frame) -> None:
        if self._received is None:
            self._received = signum
            log.warning("%s received: stopping at the end of this training step (send it again to stop "
                        "at once, without a checkpoint)", signal.Signals(signum).name)
        else:   # a second signal: give up on the clean stop
            self._restore()
            signal.raise_signal(signum)

    @property
    def signalled(self) -> bool:
        """Whether a stop signal has arrived (training stops at the end of the current step)."""
        return self._received is not None

    def _restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._received = None
        self._previous = {number: signal.signal(number, self._on_signal) for number in self.signals}

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception) -> None:
        self._restore()

    def _stop_if_signalled(self, trainer: pl.Trainer) -> None:
        received = self._received if self._received is not None else 0
        if not trainer.strategy.reduce_boolean_decision(bool(received), all=False):
            return
        # Every rank stops; the signal number is rank 0's (others may not have received one).
        received = int(trainer.strategy.broadcast(received))
        path = Path(self.dirpath or Path(trainer.default_root_dir) / "checkpoints") / "last.ckpt"
        trainer.save_checkpoint(str(path), weights_only=False)   # the full training state
        previous = (handler_to_chain(self._previous.get(received), received)
                    if received == signal.SIGUSR2 else None)
        self._restore()
        log.warning("%s: saved %s at step %d; the same command resumes from it",
                    signal.Signals(received).name, path, trainer.global_step)
        raise TrainingInterrupted(received, str(path), trainer.global_step, previous)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._stop_if_signalled(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._stop_if_signalled(trainer)   # a signal during the epoch's validation

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        try:
            self._stop_if_signalled(trainer)
        finally:
            self._restore()
