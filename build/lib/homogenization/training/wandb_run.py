"""W&B for training jobs: one run per job, grouped by sweep, resumable, always finished.

``WandbLogger`` leaves the run open when training ends, so the next job of a multirun (same
process) would log into it: :meth:`StudyWandbLogger.end_job` ends it, also when the job fails.
The run id is kept in ``<run dir>/wandb_id.txt`` so a job requeued into the same directory
(preemption, crash + resume) continues the same W&B run. A complete job logs its record and
predictions as an artifact (``core.wandb_artifacts``; the analysis uses the same artifact, which
links a report to its runs) and, with ``log_model: true``, its tested (best) checkpoint.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import WandbLogger

from homogenization.core.run_record import read_predictions, read_record, read_texts
from homogenization.core.wandb_artifacts import MODEL_TYPE, artifact_name, record_artifact
from homogenization.core.wandb_group import sweep_group
from homogenization.training.job_logger import JobLogger

log = logging.getLogger(__name__)

ID_FILE = "wandb_id.txt"


def prediction_table(run_dir: Path) -> pd.DataFrame:
    """One row per test unit of a run directory: its keys, text (a token task's word), gold label,
    prediction, whether it is right, and the predicted label's probability."""
    rows = read_predictions(run_dir)
    labels = np.array(read_record(run_dir).labels, dtype=object)
    texts = read_texts(run_dir)
    keys = [name for name in ("example_id", "sentence_id", "word_index") if name in rows]
    table = pd.DataFrame({name: rows[name] for name in keys})
    if texts is not None:
        table["text"] = ([texts[i] for i in rows["example_id"]] if "example_id" in rows else
                         [texts[s][w] for s, w in zip(rows["sentence_id"], rows["word_index"])])
    table["label"], table["pred"] = labels[rows["label"]], labels[rows["pred"]]
    table["correct"] = rows["label"] == rows["pred"]
    table["probability"] = rows["probs"][np.arange(len(rows["pred"])), rows["pred"]]
    return table


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
        # The tested checkpoint is logged once, at the end (Lightning's own log_model would upload
        # every checkpoint file, last.ckpt included, at every save).
        self.log_best_checkpoint = bool(kwargs.pop("log_model", False))
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

    def _log_test_predictions(self) -> None:
        """The run's test predictions as a W&B Table (one row per test unit, with its text)."""
        import wandb

        run_dir = self.id_file.parent
        if not (run_dir / "predictions" / "test.npz").is_file():
            return   # a task without test predictions (masked-LM pretraining)
        self.experiment.log({"test_predictions": wandb.Table(dataframe=prediction_table(run_dir))})

    def _log_artifacts(self) -> None:
        """The record and predictions, and with ``log_model`` the tested checkpoint."""
        import wandb

        run_dir = self.id_file.parent
        self.experiment.log_artifact(record_artifact(run_dir))
        checkpoint = read_record(run_dir).checkpoint
        if self.log_best_checkpoint and checkpoint and (run_dir / checkpoint).is_file():
            model = wandb.Artifact(artifact_name(f"model-{self.experiment.id}"), type=MODEL_TYPE)
            model.add_file(str(run_dir / checkpoint), name=Path(checkpoint).name)
            self.experiment.log_artifact(model, aliases=["best", "latest"])

    def end_job(self, outcome: str) -> None:
        """Finish the W&B run. An interrupted job is marked pre-empted, not failed (its next
        attempt resumes the same run), and the signal that interrupted it may have killed W&B's
        service process too (SLURM signals every process of the job): a run that cannot be
        finished then is left to that next attempt, and never turns the job into a failure."""
        if self._experiment is None:
            return
        if outcome == "complete" and not self._service_lost:
            self._log_test_predictions()
            self._log_artifacts()
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
