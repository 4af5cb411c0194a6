"""Log a homogenization report as a W&B run (job_type ``analysis``) in the study's group.

The run is named after the study, *uses* the record artifact of every run it analysed (lineage:
the dashboard traces the report back to its training runs; W&B cannot record an artifact's use
offline, so an offline run lists the inputs' names and content digests in its config, ``inputs``,
the same digests the training runs logged), logs every table of the report as a
``wandb.Table``, every figure as a ``wandb.Image``, the headline numbers as its summary, and the
whole report directory (``report.md``, ``homogenization.json``, the CSVs) as an artifact. Its files
go where W&B puts them (``./wandb`` or ``WANDB_DIR``), never inside the report directory, so
re-making a report never deletes an unsynced run. Works offline (``WANDB_MODE=offline``, then
``wandb sync``).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from homogenization.analysis.study import Analysis
from homogenization.core.wandb_artifacts import REPORT_TYPE, artifact_name, record_artifact

log = logging.getLogger(__name__)


def log_report(analysis: Analysis, report_dir: Path, project: str, entity: str | None = None,
               group: str | None = None, name: str | None = None, wandb_dir: Path | None = None) -> str:
    """Create the analysis run and return its W&B run directory. ``name``: the study's name
    (default: the group, else the report directory's name); ``wandb_dir``: where W&B writes its
    files (default W&B's own: ``./wandb`` or ``WANDB_DIR``); refused inside the report."""
    import wandb

    report_dir = Path(report_dir)
    name = name or group or report_dir.resolve().name
    if wandb_dir is not None and Path(wandb_dir).resolve().is_relative_to(report_dir.resolve()):
        raise ValueError(f"{wandb_dir}: W&B's files must not live inside the report {report_dir}")
    run = wandb.init(project=project, entity=entity, group=group, job_type="analysis", name=name,
                     dir=str(wandb_dir) if wandb_dir is not None else None,
                     config={**asdict(analysis.settings), "runs": len(analysis.runs),
                             "groups": analysis.groups}, reinit="finish_previous")
    inputs = [record_artifact(analysed.path) for analysed in analysis.runs]
    run.config.update({"inputs": [{"name": artifact.name, "digest": artifact.manifest.digest()}
                                  for artifact in inputs]})
    if run.offline:
        log.info("W&B offline: the %d analysed runs are listed in the run's config (inputs); "
                 "artifact use (lineage) is recorded by an online run", len(inputs))
    else:
        for artifact in inputs:
            run.use_artifact(artifact)
    tables = {path.stem: pd.read_csv(path) for path in sorted(report_dir.glob("*.csv"))}
    run.log({table: wandb.Table(dataframe=frame) for table, frame in tables.items()})
    run.log({f"figures/{path.stem}": wandb.Image(str(path))
             for path in sorted((report_dir / "figures").glob("*.png"))})
    for metric, entry in analysis.headline.items():
        for key in ("within", "across", "difference"):
            run.summary[f"{metric}/{key}"] = entry[key]
            run.summary[f"{metric}/{key}_ci_low"], run.summary[f"{metric}/{key}_ci_high"] = entry[f"{key}_ci"]
    if analysis.trend is not None:            # the slopes of analysis.trend: trend/<metric>/slope ...
        for row in analysis.trend.trends.to_dict("records"):
            for key in ("slope", "ci_low", "ci_high"):
                run.summary[f"trend/{row['metric']}/{key}"] = row[key]
    report = wandb.Artifact(artifact_name(f"report-{name}"), type=REPORT_TYPE)
    report.add_dir(str(report_dir))
    run.log_artifact(report)
    run_dir = run.dir
    run.finish()
    log.info("W&B analysis run %s: %s", name, run_dir)
    return run_dir
