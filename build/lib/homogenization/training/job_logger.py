"""The interface of a logger that takes part in a job's life, beyond logging metrics.

The recipe instantiates every ``cfg.logger.<name>``; those that are also a :class:`JobLogger` are
told the job's resolved config when training starts (rank 0) and told when the job ends, also
when it fails, so a logger that keeps a session open (W&B) can close it per job.
"""

from __future__ import annotations

from omegaconf import DictConfig


class JobLogger:
    def start_job(self, cfg: DictConfig) -> None:
        """Rank 0, before fitting: the job's resolved config."""

    def end_job(self, outcome: str) -> None:
        """After the job: ``complete`` (a record was written), ``failed`` or ``interrupted`` (a
        signal; the job resumes later, e.g. requeued by SLURM)."""
