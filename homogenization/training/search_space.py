"""Check a hyper-parameter search's space against the model before the first trial.

``hparams_search=optuna`` tunes config keys (``hydra.sweeper.params``). A key the chosen model
does not have (``model.width`` for a pretrained model, say) would fail inside the sweeper, trial
after trial; this Hydra callback stops the sweep first, with one line naming the key and the fix.
"""

from __future__ import annotations

import logging
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from homogenization.core.entry_point import one_line_errors
from homogenization.core.errors import UserError

log = logging.getLogger(__name__)


def missing_keys(config: DictConfig) -> list[str]:
    params = OmegaConf.select(config, "hydra.sweeper.params") or {}
    return [key for key in params if OmegaConf.select(config, key, default="<missing>") == "<missing>"]


class SearchSpaceCheck(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        missing = missing_keys(config)
        if missing:
            model = OmegaConf.select(config, "model.name")
            with one_line_errors(log):
                raise UserError(f"hparams_search: model={model} has no {', '.join(missing)} to tune. Give it "
                                "its own search: a copy of conf/hparams_search/optuna.yaml whose params this "
                                "model has, chosen with hparams_search=<copy>; or search a model that has "
                                "these keys.")
