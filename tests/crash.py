"""Callbacks that kill or signal their own training process at a chosen step (fault injection).

Lightning runs checkpoint callbacks last, so the kill lands before step ``step``'s checkpoint:
like a real crash, the work of that step is lost and must be redone on resume.
"""

import os
import signal

import pytorch_lightning as pl


class KillAtStep(pl.Callback):
    """``step`` None: the step in the environment variable FAULT_STEP (none if unset), so a crashed
    command and its resume can have the same config (a resume checks that it is the same job)."""

    def __init__(self, step: int | None = None):
        self.step = int(os.environ.get("FAULT_STEP", -1)) if step is None else step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class SignalAtStep(pl.Callback):
    """Sends ``signal_name`` to its own process after training step ``step`` (a real signal, taken
    by the real handlers, as if a scheduler or a Ctrl+C had sent it)."""

    def __init__(self, step: int | None = None, signal_name: str = "SIGTERM"):
        self.step = int(os.environ.get("FAULT_STEP", -1)) if step is None else step
        self.signal_number = signal.Signals[signal_name]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signal_number)
