"""A callback that SIGKILLs its own training process at a chosen step (crash injection for tests).

Lightning runs checkpoint callbacks last, so the kill lands before step ``step``'s checkpoint:
like a real crash, the work of that step is lost and must be redone on resume.
"""

import os
import signal

import pytorch_lightning as pl


class KillAtStep(pl.Callback):
    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)
