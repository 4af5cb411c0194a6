"""Where Hydra puts a job of a sweep, computed outside the job (a launcher or sweeper needs it for
a job that wrote nothing, or to read what an earlier job wrote)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, open_dict


def job_run_dir(hydra_context, config: DictConfig, overrides: list[str], number: int) -> Path:
    """The output directory of job ``number`` with ``overrides``, as Hydra computes it in the job."""
    job_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(job_config.hydra.job) as job:
        job.num = number
        job.id = f"job_id_for_{number}"
    return Path(str(job_config.hydra.sweep.dir)) / str(job_config.hydra.sweep.subdir)
