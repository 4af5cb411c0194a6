"""Refuse an output folder that cannot be written before Hydra tries to make it.

Hydra creates ``hydra.run.dir`` (``hydra.sweep.dir`` for -m) before any code of the job runs, so a
read-only working folder or a ``HOMOG_ROOT`` that cannot be created would end in Hydra's traceback.
This callback runs first and turns it into one line naming the folder and where to write instead.
"""

from __future__ import annotations

import logging
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from homogenization.core.disk_space import check_writable
from homogenization.core.entry_point import one_line_errors

log = logging.getLogger(__name__)


def _check(config: DictConfig, key: str) -> None:
    with one_line_errors(log):
        check_writable(str(OmegaConf.select(config, key)))


class WritableOutput(Callback):
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _check(config, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _check(config, "hydra.sweep.dir")
