"""Check what every job of a sweep shares once, before any job starts (for every launcher).

A data file that cannot be read fails each job of a sweep after its start-up; when the data config
is the same for every job (no swept key under ``data``), the launching process reads the three
splits and their labels once (the checks of the data module's ``setup`` before tokenizing) and
ends the sweep with one line (exit status 2) if they fail. Data configs that download on first
use, and sweeps over data, are left to the jobs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from homogenization.core.entry_point import one_line_errors
from homogenization.core.signals import StopSignals

log = logging.getLogger(__name__)


def swept_keys(config: DictConfig) -> set[str]:
    """The keys a sweep gives more than one value (command line and ``hydra.sweeper.params``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    sweeper = config.hydra.sweeper
    params = [f"{key}={value}" for key, value in (sweeper.get("params") or {}).items()]
    overrides = OverridesParser.create().parse_overrides([*params, *config.hydra.overrides.task])
    keys = {o.key_or_group for o in overrides if o.is_sweep_override()}
    if sweeper.get("n_trials") is not None:   # an optimizer chooses values: its search space is swept
        keys |= {str(key) for key in (sweeper.get("params") or {})}
    return keys


def check_shared_data(config: DictConfig) -> None:
    """Read the splits of the sweep's one data config and check their labels (UserError)."""
    from hydra.utils import instantiate

    datamodule = instantiate(config.data, tokenizer=None, data_seed=0)
    files = getattr(datamodule, "files", None) or {}
    if getattr(datamodule, "download", None) and not all(Path(p).exists() for p in files.values()):
        return   # fetched by the first job on a connected machine
    if not hasattr(datamodule, "resolve_label_names"):
        return   # an unlabelled corpus: its reader checks itself in the job
    splits = {split: datamodule.read_split(split) for split in ("train", "dev", "test")}
    names = datamodule.resolve_label_names(splits["train"])
    for examples in splits.values():
        datamodule.encode_labels(examples, names)


class SweepPreflight(Callback):
    """Hydra callback (``hydra.callbacks.sweep_preflight``)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            swept = swept_keys(config)
        except Exception:   # a sweep syntax Hydra itself reports
            return
        if any(key == "data" or key.startswith("data.") or key.startswith("data/") for key in swept):
            return
        with one_line_errors(log, after=" (checked once for every job of the sweep; no job was started)"), \
                StopSignals("checking the data every job of the sweep shares",
                            "no job was started; run the same command again"):
            check_shared_data(config)
