"""``record.export_steps=[n, ...]``: masked-LM pretraining also exports the model after n steps.

The pretraining budgets of a scaling study, PolyPythias-style: checkpoints of *one* pretraining
run at several points, so that budget is varied with everything else held fixed. After optimizer
step n, rank 0 writes ``<run dir>/pretrained_steps/step{n}`` with ``save_pretrained`` (the model
and its tokenizer, as the final ``pretrained`` export). The record lists the exports that exist
(``RunRecord.exports``, step -> directory), a resumed job's earlier ones included; a step the run
never reaches is named in one line and not listed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl

log = logging.getLogger(__name__)

EXPORTS_DIR = "pretrained_steps"


class ExportAtSteps(pl.Callback):
    def __init__(self, dirpath: str, steps: list[int] | None = None):
        self.run_dir = Path(dirpath)
        self.steps = sorted({int(step) for step in steps or []})

    def directory(self, step: int) -> Path:
        return self.run_dir / EXPORTS_DIR / f"step{step}"

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.steps and not hasattr(pl_module, "export"):
            log.info(
                "record.export_steps: ignored for %s (only masked-LM pretraining exports a backbone)",
                type(pl_module).__name__,
            )
            self.steps = []

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args) -> None:
        step = trainer.global_step
        if (
            step in self.steps
            and trainer.is_global_zero
            and not (self.directory(step) / "config.json").exists()
        ):
            pl_module.export(self.directory(step), trainer.datamodule.hf_tokenizer())
            log.info(
                "record.export_steps: exported the model after step %d to %s", step, self.directory(step)
            )

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        missed = [step for step in self.steps if step > trainer.global_step]
        if missed:
            log.warning(
                "record.export_steps: step(s) %s not reached (the run took %d steps); not exported",
                ", ".join(map(str, missed)),
                trainer.global_step,
            )

    def exports(self) -> dict[str, str]:
        """step -> export directory (relative to the run directory) of the exports that exist."""
        return {
            str(step): str(self.directory(step).relative_to(self.run_dir))
            for step in self.steps
            if (self.directory(step) / "config.json").exists()
        }
