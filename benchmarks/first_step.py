"""A callback for benchmarks/startup.py: print the wall-clock time of the first training step."""

import time

import pytorch_lightning as pl


class StampFirstStep(pl.Callback):
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == 0 and batch_idx == 0:
            print(f"FIRST_STEP_AT {time.time()}", flush=True)
