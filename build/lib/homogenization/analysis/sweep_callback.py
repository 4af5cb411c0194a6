"""A Hydra callback that writes the homogenization report when a multirun finishes.

Enabled by ``experiment=homogenization_*`` (conf/report/at_sweep_end.yaml); switch it off with
``hydra.callbacks.homogenization_report.enabled=false``. The report goes to
``<sweep dir>/report``; with the W&B logger on, it is also logged as a W&B run.
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
    def __init__(self, enabled: bool = True, group_by: list[str] | str = ("model",), **settings: Any):
        self.enabled = enabled
        self.group_by = [group_by] if isinstance(group_by, str) else list(group_by)
        self.settings = Settings(**settings)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not self.enabled:
            return
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            analysis = make_report([str(sweep_dir)], sweep_dir / "report", self.group_by, self.settings)
        except UserError as error:
            log.error("The sweep finished but its report could not be made: %s", error)
            return
        wandb_cfg = (config.get("logger") or {}).get("wandb")
        if wandb_cfg:
            from homogenization.analysis.wandb_report import log_report

            group = wandb_cfg.get("group") or sweep_group(config.get("study"), sweep_dir)
            log_report(analysis, sweep_dir / "report", project=wandb_cfg.project,
                       entity=wandb_cfg.get("entity"), group=group, name=config.get("study") or group,
                       wandb_dir=sweep_dir)   # beside the report, not in it
