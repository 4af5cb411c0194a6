"""Callbacks that kill or signal their own training process at a chosen step (fault injection).

Lightning runs checkpoint callbacks last, so the kill lands before step ``step``'s checkpoint:
like a real crash, the work of that step is lost and must be redone on resume.
"""

import os
import signal
import time

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Checkpoint

from homogenization.training.callbacks.preemption import CheckpointOnSignal


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


class PauseAtStep(pl.Callback):
    """Holds training after step ``step`` (once per run directory: the marker file
    ``<dirpath>/paused`` is written first) until a stop signal arrives, the file
    ``<dirpath>/release`` appears, or ``seconds`` pass, so a test can signal a job from outside (a
    real scheduler) at a known point of training. Rank 0 only. Does not change what is learned."""

    def __init__(self, dirpath: str, step: int = 5, seconds: float = 120):
        self.marker = os.path.join(dirpath, "paused")
        self.release = os.path.join(dirpath, "release")
        self.step, self.seconds = step, seconds

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step != self.step or not trainer.is_global_zero or os.path.exists(self.marker):
            return
        with open(self.marker, "w") as out:
            out.write(str(os.getpid()))
        stoppers = [c for c in trainer.callbacks if isinstance(c, CheckpointOnSignal)]
        deadline = time.monotonic() + self.seconds
        while (time.monotonic() < deadline and not os.path.exists(self.release)
               and not any(stopper.signalled for stopper in stoppers)):
            time.sleep(0.2)   # a signal's handler runs here; training stops at the next step end


class KillBetweenEpochCheckpoints(Checkpoint):
    """SIGKILL at the end of epoch ``$FAULT_EPOCH``, after the best checkpoint was saved and before
    ``last.ckpt`` is (a checkpoint callback: Lightning runs those last, in order, and the recipe
    puts last.ckpt's writer after every other)."""

    def __init__(self):
        self.epoch = int(os.environ.get("FAULT_EPOCH", -1))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)


def fill_disk(path: str) -> str:
    """Fill the disk holding the folder ``path`` (a test's own small tmpfs) with a file of zeros
    until the disk refuses more: a real full disk, not a mocked error. Returns the filler's path."""
    filler = os.path.join(path, "filler")
    with open(filler, "ab", buffering=0) as out:
        for size in (2**20, 2**12, 1):
            try:
                while out.write(b"\0" * size):
                    pass
            except OSError:
                pass
    return filler


class FillDiskAtTest(pl.Callback):
    """When ``$FILL_DISK_AT_TEST`` names a folder: fill its disk as the test loop starts, so the
    next files written (the test predictions) meet a full disk. Unset: does nothing, so a second
    attempt has the same config (a resume checks that it is the same job)."""

    def on_test_start(self, trainer, pl_module) -> None:
        folder = os.environ.get("FILL_DISK_AT_TEST")
        if folder:
            fill_disk(folder)


class SignalAtTest(pl.Callback):
    """Sends SIGTERM to its own process after the first test batch (once per process)."""

    sent = False

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if not SignalAtTest.sent:
            SignalAtTest.sent = True
            os.kill(os.getpid(), signal.SIGTERM)
