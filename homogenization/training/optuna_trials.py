"""A resumed Optuna search marks the trials a killed search left RUNNING as failed.

A search killed mid-trial (SIGKILL, a lost node) leaves that trial RUNNING in the study's storage
for ever: TPE then treats it as pending, and the study's summary counts it as in progress. When the
same study is started again (``hydra.sweeper.storage``, ``study_name``), this Hydra callback marks
every trial still RUNNING as FAIL before the first new trial, naming them. Two searches writing to
one study at the same time are not supported (the second would fail the first one's trial).
"""

from __future__ import annotations

import logging
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def fail_stale_trials(storage: str, study_name: str) -> list[int]:
    """Mark the study's RUNNING trials FAIL; their numbers (empty when there is no such study)."""
    import optuna
    from optuna.trial import TrialState

    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:        # a new study
        return []
    stale = [trial for trial in study.get_trials(deepcopy=False) if trial.state == TrialState.RUNNING]
    for trial in stale:
        study._storage.set_trial_state(trial._trial_id, TrialState.FAIL)
    return [trial.number for trial in stale]


class FailStaleTrials(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        storage = OmegaConf.select(config, "hydra.sweeper.storage")
        if not storage:
            return
        failed = fail_stale_trials(str(storage), str(OmegaConf.select(config, "hydra.sweeper.study_name")))
        if failed:
            log.warning("optuna: trial(s) %s of study %s were left running by a search that was stopped; "
                        "marked failed", ", ".join(map(str, failed)),
                        OmegaConf.select(config, "hydra.sweeper.study_name"))
