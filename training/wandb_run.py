"""W&B for training jobs: one run per job, grouped by sweep, resumable, always finished.

``WandbLogger`` leaves the run open when training ends, so the next job of a multirun (same
process) would log into it: :meth:`StudyWandbLogger.end_job` ends it, also when the job fails.
The run id is kept in ``<run dir>/wandb_id.txt`` so a job requeued into the same directory
(preemption, crash + resume) continues the same W&B run.
"""

from __future__ import annotations

from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import WandbLogger

from core.wandb_group import sweep_group
from training.job_logger import JobLogger

ID_FILE = "wandb_id.txt"


class StudyWandbLogger(WandbLogger, JobLogger):
    """``WandbLogger`` for one job of a study. ``run_dir``: the job's run directory (the id file);
    ``study``: the study's name. ``group`` null: ``<study>-<sweep dir name>`` in a multirun."""

    def __init__(self, run_dir: str, study: str | None = None, **kwargs):
        if kwargs.get("group") is None:
            sweep_dir = None
            if HydraConfig.initialized() and HydraConfig.get().mode.name == "MULTIRUN":
                sweep_dir = HydraConfig.get().sweep.dir
            kwargs["group"] = sweep_group(study, sweep_dir)
        self.id_file = Path(run_dir) / ID_FILE
        if self.id_file.exists():
            kwargs.update(id=self.id_file.read_text().strip(), resume="allow")
        super().__init__(**kwargs)

    def start_job(self, cfg: DictConfig) -> None:
        """Record the run id, the resolved config and how to summarize the monitor."""
        experiment = self.experiment
        self.id_file.write_text(experiment.id)
        experiment.config.update(OmegaConf.to_container(cfg, resolve=True), allow_val_change=True)
        experiment.define_metric(cfg.task.monitor, summary=cfg.task.monitor_mode)   # best, not last

    def end_job(self, failed: bool) -> None:
        if self._experiment is not None:
            self.experiment.finish(exit_code=1 if failed else 0)
