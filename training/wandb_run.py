"""W&B for training jobs: one run per job, grouped by sweep, resumable, always finished.

``WandbLogger`` leaves the run open when training ends, so the next job of a multirun (same
process) would log into it: :func:`finish_wandb_runs` ends it, also when the job fails. The run
id is kept in ``<run dir>/wandb_id.txt`` so a job requeued into the same directory (preemption,
crash + resume) continues the same W&B run.
"""

from __future__ import annotations

from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import WandbLogger

from core.wandb_group import sweep_group

ID_FILE = "wandb_id.txt"


def wandb_logger_kwargs(cfg: DictConfig, run_dir: Path) -> dict:
    """Group (the sweep), id (persisted, for resuming) and config for a ``logger.wandb`` node."""
    node = cfg.logger.wandb
    kwargs = {}
    if node.get("group") is None:
        sweep_dir = None
        if HydraConfig.initialized() and HydraConfig.get().mode.name == "MULTIRUN":
            sweep_dir = HydraConfig.get().sweep.dir
        kwargs["group"] = sweep_group(cfg.get("study"), sweep_dir)
    id_file = Path(run_dir) / ID_FILE
    if id_file.exists():
        kwargs.update(id=id_file.read_text().strip(), resume="allow")
    return kwargs


def start_wandb_run(logger: WandbLogger, cfg: DictConfig, run_dir: Path) -> None:
    """Rank 0: record the run id, the resolved config and how to summarize the metrics."""
    experiment = logger.experiment
    (Path(run_dir) / ID_FILE).write_text(experiment.id)
    experiment.config.update(OmegaConf.to_container(cfg, resolve=True), allow_val_change=True)
    monitor, mode = cfg.task.monitor, cfg.task.monitor_mode
    experiment.define_metric(monitor, summary=mode)   # the summary keeps the best, not the last


def finish_wandb_runs(loggers: list, failed: bool = False) -> None:
    """End this job's W&B run (exit code 1 when the job failed)."""
    for logger in loggers:
        if isinstance(logger, WandbLogger) and logger._experiment is not None:
            logger.experiment.finish(exit_code=1 if failed else 0)
