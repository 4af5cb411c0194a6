"""Log a homogenization report as a W&B run (job_type ``analysis``) in the study's group.

Tables become ``wandb.Table``s, figures ``wandb.Image``s and the headline numbers the run's
summary, so the report sits beside the training runs it compares on one dashboard. Works offline
(``WANDB_MODE=offline``, then ``wandb sync``).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from homogenization.analysis.study import Analysis


def log_report(analysis: Analysis, report_dir: Path, project: str, entity: str | None = None,
               group: str | None = None) -> str:
    """Create the analysis run and return its W&B run directory."""
    import wandb

    run = wandb.init(project=project, entity=entity, group=group, job_type="analysis", name="report",
                     dir=str(report_dir), config={**asdict(analysis.settings), "runs": len(analysis.runs),
                                                  "groups": analysis.groups}, reinit="finish_previous")
    tables = {"pairs": analysis.pairs, "groups": analysis.group_table, "k_histograms": analysis.k_histograms,
              "units": analysis.units}
    run.log({name: wandb.Table(dataframe=frame) for name, frame in tables.items()})
    run.log({f"figures/{path.stem}": wandb.Image(str(path))
             for path in sorted((Path(report_dir) / "figures").glob("*.png"))})
    for metric, entry in analysis.headline.items():
        for key in ("within", "across", "difference"):
            run.summary[f"{metric}/{key}"] = entry[key]
            run.summary[f"{metric}/{key}_ci_low"], run.summary[f"{metric}/{key}_ci_high"] = entry[f"{key}_ci"]
    run_dir = run.dir
    run.finish()
    return run_dir
