"""Homogenization over training (runs trained with ``record.every_epoch=true``): when does it appear?

For every epoch all runs recorded, the pairwise error consistency and linear CKA of that epoch's
test predictions and representations, averaged within groups and across groups, each with a
multi-bootstrap interval (the headline's block and seed draws, so epochs are comparable); and, per
unit, the epoch from which every run fails it through the last recorded epoch (``units.csv``:
``systemic_since_epoch``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

from homogenization.analysis.metrics.bootstrap import interval, pair_mean
from homogenization.analysis.metrics.registry import METRICS
from homogenization.analysis.runs.discovery import Run
from homogenization.analysis.runs.outcomes import Outcomes, load_outcomes

log = logging.getLogger(__name__)

def common_epochs(runs: list[Run]) -> list[int]:
    """The epochs every run recorded (none unless all did)."""
    found = [set((run.record.test or {}).get("epochs") or []) for run in runs]
    if not all(found):
        if any(found):
            log.warning("homogenization over training skipped: not every run was trained with "
                        "record.every_epoch=true")
        return []
    return sorted(set.intersection(*found))


def over_training(runs: list[Run], groups: list[str], unit: str, epochs: list[int],
                  statistics: Callable, block_draws: np.ndarray,
                  seed_draws: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """(``epochs.csv``: epoch, metric, side, value, ci_low, ci_high; errors [E, R, U] per epoch).
    ``statistics(outcomes, split)`` builds the block statistics of one epoch's files."""
    group_index = np.array([groups.index(run.group) for run in runs])
    same = group_index[:, None] == group_index[None, :]
    masks = {"within": same & ~np.eye(len(runs), dtype=bool), "across": ~same}
    pair_draws = seed_draws[:, :, None] * seed_draws[:, None, :]
    rows, errors = [], []
    for epoch in epochs:
        split = f"test_epoch{epoch}"
        outcomes: Outcomes = load_outcomes(runs, unit, split)
        stats = statistics(outcomes, split)
        for name in (m.name for m in METRICS.values() if m.per_epoch):
            point = METRICS[name].values(stats, np.ones((1, stats.n_blocks)))
            replicated = METRICS[name].values(stats, block_draws)
            for side, mask in masks.items():
                if not mask.any():
                    continue
                low, high = interval(pair_mean(replicated, pair_draws * mask))
                rows.append({"epoch": epoch, "metric": name, "side": side,
                             "value": float(pair_mean(point[0], mask.astype(float))),
                             "ci_low": low, "ci_high": high})
        errors.append(outcomes.errors)
    return pd.DataFrame(rows), np.stack(errors)


def systemic_since(errors_by_epoch: np.ndarray, epochs: list[int]) -> np.ndarray:
    """Per unit, the first recorded epoch from which every run fails it at every later recorded
    epoch, or NaN when it is not failed by every run at the last one. ``errors_by_epoch``: bool
    [E, R, U]."""
    all_wrong = errors_by_epoch.all(axis=1)                              # [E, U]
    since = np.full(all_wrong.shape[1], np.nan)
    holding = np.ones(all_wrong.shape[1], dtype=bool)
    for index in range(len(epochs) - 1, -1, -1):
        holding &= all_wrong[index]
        since[holding] = epochs[index]
    return since
