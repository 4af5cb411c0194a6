"""A Hydra callback that writes the homogenization report when a multirun finishes.

Enabled by ``experiment=homogenization_*`` (conf/report/at_sweep_end.yaml); switch it off with
``hydra.callbacks.homogenization_report.enabled=false``. The report goes to
``<sweep dir>/report`` (``out``), from every run of the sweep or the ``runs`` glob below it; with
the W&B logger on, it is also logged as a W&B run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from homogenization.analysis.make_report import make_report
from homogenization.analysis.study import Settings
from homogenization.core.errors import UserError
from homogenization.core.wandb_group import sweep_group

log = logging.getLogger(__name__)


class ReportAtSweepEnd(Callback):
    def __init__(self, enabled: bool = True, group_by: list[str] | str = ("model",), runs: str | None = None,
                 out: str = "report", **settings: Any):
        self.enabled = enabled
        self.runs, self.out = runs, out     # a glob below the sweep directory (default: all of it)
        self.group_by = [group_by] if isinstance(group_by, str) else list(group_by)
        self.settings = Settings(**settings)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not self.enabled:
            return
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            runs = str(sweep_dir / self.runs) if self.runs else str(sweep_dir)
            analysis = make_report([runs], sweep_dir / self.out, self.group_by, self.settings)
        except UserError as error:
            log.error("The sweep finished but its report %s could not be made: %s", self.out, error)
            return
        wandb_cfg = (config.get("logger") or {}).get("wandb")
        if wandb_cfg:
            from homogenization.analysis.report.wandb_report import log_report

            group = wandb_cfg.get("group") or sweep_group(config.get("study"), sweep_dir)
            log_report(analysis, sweep_dir / self.out, project=wandb_cfg.project,
                       entity=wandb_cfg.get("entity"), group=group,
                       name=self._name(config.get("study") or group),
                       wandb_dir=sweep_dir)   # beside the report, not in it

    def _name(self, study: str) -> str:
        """The W&B run of the report: the study's name, with the report's folder when a sweep makes
        several (``scaling_study-report_sizes``)."""
        return study if self.out == "report" else f"{study}-{self.out}"
