"""The multi-bootstrap's pieces shared by the analyses: seed draws within groups, means over pairs
of runs under those draws, percentile intervals (see analysis.py for the design)."""

from __future__ import annotations

import numpy as np


def seed_draws_within(group_index: np.ndarray, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """How often each run is drawn in each replicate, resampling runs within their group: [B, R]."""
    counts = np.zeros((replicates, len(group_index)))
    for group in np.unique(group_index):
        members = np.flatnonzero(group_index == group)
        counts[:, members] = rng.multinomial(len(members), np.full(len(members), 1 / len(members)),
                                             size=replicates)
    return counts


def pair_mean(values: np.ndarray, pair_weights: np.ndarray) -> np.ndarray:
    """Weighted mean over pairs [.., R, R], ignoring undefined (NaN) pairs."""
    defined = ~np.isnan(values)
    weights = np.where(defined, pair_weights, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.where(defined, values, 0.0) * weights).sum(axis=(-2, -1)) / weights.sum(axis=(-2, -1))


def interval(replicates: np.ndarray) -> list[float]:
    finite = replicates[np.isfinite(replicates)]
    if len(finite) == 0:
        return [float("nan"), float("nan")]
    return [float(v) for v in np.percentile(finite, [2.5, 97.5])]


def level_draws(level_columns: list[np.ndarray], replicates: int, rng: np.random.Generator) -> np.ndarray:
    """How often each run is drawn in each replicate when the *levels* of every factor are
    resampled independently (the pigeonhole bootstrap of crossed designs, Owen 2007): a run's
    count is the product of its levels' counts. ``level_columns``: per factor, each run's level
    index [R]. Returns [B, R]."""
    counts = np.ones((replicates, len(level_columns[0]) if level_columns else 0))
    for levels in level_columns:
        n = int(levels.max()) + 1
        counts *= rng.multinomial(n, np.full(n, 1 / n), size=replicates)[:, levels]
    return counts
