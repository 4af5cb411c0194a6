"""W&B for training jobs: one run per job, grouped by sweep, resumable, always finished.

``WandbLogger`` leaves the run open when training ends, so the next job of a multirun (same
process) would log into it: :meth:`StudyWandbLogger.end_job` ends it, also when the job fails.
The run id is kept in ``<run dir>/wandb_id.txt`` so a job requeued into the same directory
(preemption, crash + resume) continues the same W&B run.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import WandbLogger

from core.wandb_group import sweep_group
from training.job_logger import JobLogger

log = logging.getLogger(__name__)

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
        self._service_lost = False
        if self.id_file.exists():
            kwargs.update(id=self.id_file.read_text().strip(), resume="allow")
        super().__init__(**kwargs)

    def start_job(self, cfg: DictConfig) -> None:
        """Record the run id, the resolved config and how to summarize the monitor."""
        experiment = self.experiment
        self.id_file.write_text(experiment.id)
        experiment.config.update(OmegaConf.to_container(cfg, resolve=True), allow_val_change=True)
        experiment.define_metric(cfg.task.monitor, summary=cfg.task.monitor_mode)   # best, not last

    def log_metrics(self, metrics, step=None) -> None:
        """Log, unless W&B's service has gone: SLURM signals every process of a job when it
        pre-empts or requeues it, the service among them, and the job still finishes its training
        step (and saves its checkpoint) after the signal. A lost connection is then a warning, not
        the end of the job; its next attempt resumes the run."""
        if self._service_lost:
            return
        try:
            super().log_metrics(metrics, step)
        except ConnectionError as error:
            self._service_lost = True
            log.warning("W&B's service is gone (%s: %s); this attempt logs nothing more to W&B (a "
                        "requeued job resumes the same W&B run)", type(error).__name__, error)

    def end_job(self, outcome: str) -> None:
        """Finish the W&B run. An interrupted job is marked pre-empted, not failed (its next
        attempt resumes the same run), and the signal that interrupted it may have killed W&B's
        service process too (SLURM signals every process of the job): a run that cannot be
        finished then is left to that next attempt, and never turns the job into a failure."""
        if self._experiment is None:
            return
        try:
            if outcome == "interrupted":
                self.experiment.mark_preempting()
            self.experiment.finish(exit_code=1 if outcome == "failed" else 0)
        except Exception as error:
            if outcome != "interrupted" and not self._service_lost:
                raise
            log.warning("W&B run %s not finished (%s: %s); the job's next attempt resumes it",
                        self.id_file.read_text().strip() if self.id_file.exists() else "?",
                        type(error).__name__, error)
