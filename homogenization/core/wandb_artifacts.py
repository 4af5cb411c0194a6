"""W&B artifacts of run records, made the same way by training and by the analysis.

A training run logs its record (``run.json`` and ``predictions/``) as an artifact; the analysis run
*uses* an artifact built from the same files. W&B identifies an artifact version by its content
digest, so both name the same version and the dashboard links a report to the runs it analysed
(lineage), offline too (``wandb sync`` uploads both sides).
"""

from __future__ import annotations

import re
from pathlib import Path

from homogenization.core.run_record import RUN_FILE, read_record

RECORD_TYPE = "run-record"
REPORT_TYPE = "homogenization-report"
MODEL_TYPE = "model"


def artifact_name(text: str) -> str:
    """W&B artifact names allow letters, digits, '-', '_' and '.'."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:120] or "unnamed"


def record_artifact_name(run_dir: Path, record) -> str:
    """``<model>-seed<seed>-<config digest>``: the same job always gets the same name."""
    identity = (record.config_digest or Path(run_dir).resolve().name)[:12]
    return artifact_name(f"{record.model}-seed{record.seed}-{identity}")


def record_artifact(run_dir: Path):
    """The run's record and predictions as a ``wandb.Artifact`` (not logged yet)."""
    import wandb

    run_dir = Path(run_dir)
    record = read_record(run_dir)
    artifact = wandb.Artifact(record_artifact_name(run_dir, record), type=RECORD_TYPE, metadata={
        "status": record.status, "task": record.task, "model": record.model, "seed": record.seed,
        "metrics": record.metrics, "test_fingerprint": record.test_fingerprint})
    artifact.add_file(str(run_dir / RUN_FILE), name=RUN_FILE)
    if (run_dir / "predictions").is_dir():
        artifact.add_dir(str(run_dir / "predictions"), name="predictions")
    return artifact
