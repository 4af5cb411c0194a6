"""Homogenization against a numeric axis of the design (``analysis.trend``): model size,
pretraining budget, training-data size. Do runs agree more as they grow?

The levels are the distinct values of the trend key (a config key or a run.json path such as
``training.parameters``); x is log2 of the value when every value is positive (slopes are per
doubling), else the value itself. For each level: the task metric and, on the pairs of runs of that
level, each headline metric, with the headline's crossed runs-by-items intervals
(``bootstrap.crossed_interval``). The trend of a metric is the least-squares slope of the level means
against x, every level weighing the same: a fixed linear combination of pair means, so it has the
same crossed interval (the run part from ``run_effect_scale`` of that combination, Satterthwaite's
degrees of freedom: ``slope_freedom``, the levels at the ends of the axis counting most). Runs are
resampled within their level.

Two things a trend of agreement can hide are reported beside it:

- *capability*: a metric that is not measured against the chance agreement of two runs with these
  accuracies (CKA, mutual k-NN; ``Metric.adjusts_for_accuracy``) rises with accuracy alone, so its
  slope is also given with the pair's mean task metric held fixed (least squares on the pairs of
  each level, levels weighing the same); and every pair's metric is regressed on the pair's mean
  task metric (alignment against capability, Huh et al. 2024). These two intervals are percentiles
  of the joint bootstrap (runs within levels and items). The slope interval's coverage per regime
  is in ``analysis/calibration.csv`` (benchmarks/trend_coverage.py), which the report quotes.
- *which units*: the units most runs of the smallest level fail and most of the largest get right
  (learned with scale), the reverse (lost with scale), and those every run of every level fails
  (systemic across scale).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from homogenization.analysis.design.attribution import weighted_least_squares
from homogenization.analysis.metrics.bootstrap import (
    by_replicate_chunks,
    crossed_interval,
    gradient_scale,
    interval,
    pair_gradient,
    pair_mean,
    run_effect_scale,
    seed_draws_within,
)
from homogenization.analysis.metrics.registry import METRICS
from homogenization.analysis.random_streams import stream
from homogenization.analysis.runs.discovery import Run, config_value
from homogenization.core.errors import UserError

log = logging.getLogger(__name__)

LEARNED, LOST, SYSTEMIC = "learned with scale", "lost with scale", "systemic across scale"


@dataclass
class Trend:
    """The trend section's tables: ``levels`` (levels.csv), ``trends`` (trends.csv), the level x
    level means of each headline metric, each pair's metric and mean task metric (capability), and
    each unit's pattern across scale."""

    key: str
    scale: str  # "log2" or "linear"
    run_levels: np.ndarray  # [R] each run's value of the key
    levels: pd.DataFrame
    trends: pd.DataFrame
    level_matrices: dict[str, np.ndarray] = field(default_factory=dict)
    level_pairs: dict[str, np.ndarray] = field(default_factory=dict)  # the pairs of each cell
    capability: pd.DataFrame = field(default_factory=pd.DataFrame)
    unit_patterns: np.ndarray | None = None  # [U] one of LEARNED, LOST, SYSTEMIC or ""


def level_text(value: float) -> str:
    """A level as people write it: whole numbers with thousands separators (16,969,728
    parameters), others as they are (0.08)."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def level_values(runs: list[Run], key: str) -> np.ndarray:
    """Each run's value of the trend key, as a number (one line naming a run whose value is not)."""
    values = []
    for run in runs:
        try:
            value = config_value(run.record, key)
        except UserError:
            raise UserError(
                f"analysis.trend={key}: run {run.name} has no {key} (in run.json or its config); "
                "name a key every analysed run has, e.g. training.parameters"
            ) from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise UserError(
                f"analysis.trend={key}: run {run.name} has {key}={value!r}, not a number; a trend "
                "needs a numeric key (e.g. training.parameters, data.train_fraction, "
                "study_pretrain_steps)"
            )
        values.append(float(value))
    return np.array(values)


def _fit_weights(x: np.ndarray) -> np.ndarray:
    """c such that sum_l c_l m_l is the least-squares slope of m against x (levels weigh the same)."""
    centred = x - x.mean()
    return centred / (centred**2).sum()


def _weighted_fit(design: np.ndarray, weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``attribution.weighted_least_squares`` with undefined (NaN) pair values left out."""
    return weighted_least_squares(design, np.where(np.isnan(values), 0.0, weights), np.nan_to_num(values))


@dataclass
class TaskMetric:
    """Each run's task metric [R], its replicates [B, R] (test items resampled), its name and the
    level a model reaches without learning."""

    values: np.ndarray
    replicated: np.ndarray
    name: str
    chance: float


@dataclass
class Levels:
    """The levels of a numeric axis. Runs are drawn within their level (``drawn`` [B, R]). A level's
    pair means read only the pairs of its own runs: its block of a pair matrix (``block``) and its
    pair weights (``within``, ``within_drawn`` [B, n, n] for its n runs), made on demand, one
    level at a time. An [L, B, R, R] array was 10 GB at 5 levels x 1,000 replicates x 500 runs, and
    [B, R, R] weights that are zero outside one level made its means 25 times the work at 5 levels."""

    levels: np.ndarray       # [L] the distinct values
    x: np.ndarray            # [L] log2 of the value when every value is positive, else the value
    index: np.ndarray        # [R] each run's level
    positive: bool
    drawn: np.ndarray        # [B, R]

    @property
    def runs_per_level(self) -> np.ndarray:
        return np.bincount(self.index, minlength=len(self.levels))

    @property
    def per(self) -> str:
        return "doubling" if self.positive else "unit"

    def members(self, k: int) -> np.ndarray:
        return np.flatnonzero(self.index == k)

    def block(self, k: int, pair_values: np.ndarray) -> np.ndarray:
        """The pairs of level k's runs of ``pair_values`` [.., R, R]: [.., n, n]."""
        members = self.members(k)
        return pair_values[..., members[:, None], members[None, :]]

    def within(self, k: int) -> np.ndarray:
        """[n, n] float32: the pairs of two different runs of level k."""
        n = len(self.members(k))
        return (~np.eye(n, dtype=bool)).astype(np.float32)

    def within_drawn(self, k: int) -> np.ndarray:
        """[B, n, n] float32: how often each pair of two different runs of level k is drawn."""
        drawn = self.drawn[:, self.members(k)].astype(np.float32)
        return drawn[:, :, None] * drawn[:, None, :] * self.within(k)

    def spread(self, k: int, level_values: np.ndarray) -> np.ndarray:
        """Per-run values of level k's runs [.., n] placed among all runs [.., R] (0 elsewhere)."""
        found = np.zeros((*level_values.shape[:-1], len(self.index)))
        found[..., self.members(k)] = level_values
        return found


def read_levels(values: np.ndarray, key: str, replicates: int, seed: int) -> Levels | None:
    """The axis of ``analysis.trend=key`` (None, with one line, when the runs have one level)."""
    levels = np.unique(values)
    if len(levels) < 2:
        log.warning("analysis.trend=%s: every run has %s=%g; a trend needs two levels or more", key, key,
                    levels[0])
        return None
    positive = bool((levels > 0).all())
    index = np.searchsorted(levels, values)
    drawn = seed_draws_within(index, replicates, stream(seed, "trend"))
    return Levels(levels, np.log2(levels) if positive else levels, index, positive, drawn)


def trend_analysis(runs: list[Run], key: str, values: np.ndarray, point: dict, replicated: dict,
                   task: TaskMetric, errors: np.ndarray, replicates: int, seed: int) -> Trend | None:
    """The trend section for ``analysis.trend=key`` (None, with one line, when the runs have one
    level only). ``point``/``replicated``: each headline metric's [R, R] and [B, R, R] (item blocks
    resampled); ``errors``: [R, U] which units each run fails; ``values``: each run's level
    (``level_values``)."""
    axis = read_levels(values, key, replicates, seed)
    if axis is None:
        return None
    point = {name: point[name] for name in replicated}   # the metrics with replicates: the headline's
    level_table = _level_table(axis, point, replicated, task)
    matrices = {name: _level_matrix(point[name], axis.index, len(axis.levels)) for name in point}
    return Trend(key, "log2" if axis.positive else "linear", values, level_table,
                 _trend_table(axis, level_table, point, replicated, task, len(runs)),
                 level_matrices={name: matrix[0] for name, matrix in matrices.items()},
                 level_pairs={name: matrix[1] for name, matrix in matrices.items()},
                 capability=_capability_table(runs, values, point, task),
                 unit_patterns=unit_patterns(errors, axis.index, len(axis.levels)))


def _level_table(axis: Levels, point: dict, replicated: dict, task: TaskMetric) -> pd.DataFrame:
    """levels.csv: per level the task metric and each headline metric within the level."""
    rows = []
    for k, level in enumerate(axis.levels):
        members = axis.index == k
        seeds = axis.drawn * members
        with np.errstate(invalid="ignore", divide="ignore"):
            metric_draws = (task.replicated * seeds).sum(1) / seeds.sum(1)
        row = {"level": level, "x": axis.x[k], "runs": int(members.sum()), "metric": task.name,
               "metric_mean": float(task.values[members].mean()),
               **dict(zip(("metric_ci_low", "metric_ci_high"), interval(metric_draws))),
               "chance": task.chance}
        within, within_drawn = axis.within(k), axis.within_drawn(k)
        for name in point:
            values, replicates = axis.block(k, point[name]), axis.block(k, replicated[name])
            estimate = float(pair_mean(values, within))
            low, high = crossed_interval(
                estimate, pair_mean(values, within_drawn), pair_mean(replicates, within),
                pair_mean(replicates, within_drawn), run_effect_scale(within, within_drawn),
                max(int(members.sum()) - 1, 1))
            row.update({name: estimate, f"{name}_ci_low": low, f"{name}_ci_high": high,
                        f"{name}_pairs": int(((within > 0) & ~np.isnan(values)).sum() // 2)})
        rows.append(row)
    return pd.DataFrame(rows)


def _trend_table(axis: Levels, level_table: pd.DataFrame, point: dict, replicated: dict, task: TaskMetric,
                 runs: int) -> pd.DataFrame:
    """trends.csv: the task metric's slope, then each headline metric's, with accuracy held fixed
    and against capability."""
    rows = [_task_metric_trend(level_table, axis, task.replicated)]
    for name in point:
        rows.append({**_metric_trend(name, point[name], replicated[name], axis),
                     **_given_accuracy(name, point[name], replicated[name], axis, task),
                     **_capability(point[name], replicated[name], task, axis.drawn)})
    table = pd.DataFrame(rows)
    table.insert(1, "levels", len(axis.levels))
    table.insert(2, "runs", runs)
    return table


def _capability_table(runs: list[Run], values: np.ndarray, point: dict, task: TaskMetric) -> pd.DataFrame:
    """Every pair's levels, mean task metric and headline metrics."""
    upper = np.triu_indices(len(runs), k=1)
    return pd.DataFrame({"run_a": [runs[a].name for a in upper[0]], "run_b": [runs[b].name for b in upper[1]],
                         "level_a": values[upper[0]], "level_b": values[upper[1]],
                         "mean_metric": (task.values[upper[0]] + task.values[upper[1]]) / 2,
                         **{name: point[name][upper] for name in point}})


def _task_metric_trend(level_table: pd.DataFrame, axis: Levels, replicated_metric: np.ndarray) -> dict:
    """The task metric's slope against x (percentile multi-bootstrap interval, like groups.csv's)."""
    weights = _fit_weights(axis.x)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_level = np.stack([(replicated_metric * axis.drawn * (axis.index == k)).sum(1)
                              / (axis.drawn * (axis.index == k)).sum(1) for k in range(len(axis.x))], axis=1)
    low, high = interval(per_level @ weights)
    return {"metric": level_table["metric"].iloc[0], "slope": float(level_table["metric_mean"] @ weights),
            "ci_low": low, "ci_high": high, "per": axis.per, "pairs": 0}


def slope_freedom(combination: np.ndarray, runs_per_level: np.ndarray) -> float:
    """Degrees of freedom of the run part of sum_l c_l m_l (Satterthwaite): each level's mean
    carries a run variance of about s^2 / n_l estimated on n_l - 1 degrees of freedom, so the
    levels at the ends of the axis, which weigh most in a slope, count most; with c_l = 0 a level
    adds nothing. Fewer than runs less levels, which would make the interval too narrow."""
    weights = combination**2 / runs_per_level
    return float(weights.sum() ** 2 / (weights**2 / np.maximum(runs_per_level - 1, 1)).sum())


def _metric_trend(name: str, values: np.ndarray, replicated: np.ndarray, axis: Levels) -> dict:
    """A headline metric's slope of within-level means against x, with its crossed interval."""
    means = np.array([pair_mean(axis.block(k, values), axis.within(k)) for k in range(len(axis.levels))])
    defined = np.isfinite(means)
    if defined.sum() < 2:
        return {"metric": name, "slope": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"),
                "per": axis.per, "pairs": 0}
    weights = np.zeros(len(axis.x))
    weights[defined] = _fit_weights(axis.x[defined])
    used = np.flatnonzero(weights != 0)
    combination = weights[used]
    runs_only, items_only, both = 0.0, 0.0, 0.0
    point_gradient, replicate_gradients, defined_draws = 0.0, 0.0, True
    for c, k in zip(combination, used):   # one level's [B, n, n] weights at a time
        within, within_drawn = axis.within(k), axis.within_drawn(k)
        level_values, level_replicates = axis.block(k, values), axis.block(k, replicated)
        runs_only = runs_only + c * pair_mean(level_values, within_drawn)
        items_only = items_only + c * pair_mean(level_replicates, within)
        both = both + c * pair_mean(level_replicates, within_drawn)
        point_gradient = point_gradient + c * axis.spread(k, pair_gradient(within))
        replicate_gradients = replicate_gradients + c * axis.spread(k, pair_gradient(within_drawn))
        defined_draws = defined_draws & (within_drawn.sum(axis=(-2, -1)) > 0)
    scale = gradient_scale(point_gradient, replicate_gradients, defined_draws)
    slope = float(means[defined] @ weights[defined])
    freedom = slope_freedom(combination, axis.runs_per_level[used])
    low, high = crossed_interval(slope, runs_only, items_only, both, scale, freedom, few_runs_noise=True)
    pairs = int(sum(((axis.within(k) > 0) & ~np.isnan(axis.block(k, values))).sum() // 2 for k in used))
    return {"metric": name, "slope": slope, "ci_low": low, "ci_high": high, "per": axis.per, "pairs": pairs}


def _given_accuracy(name: str, values: np.ndarray, replicated: np.ndarray, axis: Levels,
                    task: TaskMetric) -> dict:
    """The slope on x with the pair's mean task metric held fixed (metrics that do not already
    adjust for accuracy), on the pairs within levels, each level weighing the same."""
    empty = {"slope_given_metric": float("nan"), "given_ci_low": float("nan"), "given_ci_high": float("nan")}
    if METRICS[name].adjusts_for_accuracy:
        return empty
    level_index, x, drawn = axis.index, axis.x, axis.drawn
    run_metric, replicated_metric = task.values, task.replicated
    a, b = np.triu_indices(len(level_index), k=1)
    same = level_index[a] == level_index[b]
    a, b = a[same], b[same]
    pair_level = level_index[a]
    per_level = np.bincount(pair_level, minlength=len(x)).astype(float)
    level_weight = 1 / per_level[pair_level]

    def fit(metric: np.ndarray, pair_values: np.ndarray, weights: np.ndarray) -> np.ndarray:
        accuracy = (metric[:, a] + metric[:, b]) / 2
        design = np.stack(
            [np.ones_like(accuracy), np.broadcast_to(x[pair_level], accuracy.shape), accuracy], -1
        )
        return _weighted_fit(design, weights, pair_values)[:, 1]

    slope = fit(run_metric[None], values[a, b][None], level_weight[None])[0]
    if len(drawn) == 0:
        return {**empty, "slope_given_metric": float(slope)}
    def fit_drawn(metric: np.ndarray, pairs: np.ndarray, runs_drawn: np.ndarray) -> np.ndarray:
        return fit(metric, pairs[:, a, b], runs_drawn[:, a] * runs_drawn[:, b] * level_weight)

    low, high = interval(by_replicate_chunks(fit_drawn, replicated_metric, replicated, drawn))
    return {"slope_given_metric": float(slope), "given_ci_low": low, "given_ci_high": high}


def _capability(values: np.ndarray, replicated: np.ndarray, task: TaskMetric, drawn: np.ndarray) -> dict:
    """Every pair's metric against the pair's mean task metric: the least-squares slope."""
    run_metric, replicated_metric = task.values, task.replicated
    a, b = np.triu_indices(len(run_metric), k=1)

    def fit(metric: np.ndarray, pair_values: np.ndarray, weights: np.ndarray) -> np.ndarray:
        accuracy = (metric[:, a] + metric[:, b]) / 2
        design = np.stack([np.ones_like(accuracy), accuracy], -1)
        return _weighted_fit(design, weights, pair_values)[:, 1]

    slope = float(fit(run_metric[None], values[a, b][None], np.ones((1, len(a))))[0])
    def fit_drawn(metric: np.ndarray, pairs: np.ndarray, runs: np.ndarray) -> np.ndarray:
        return fit(metric, pairs[:, a, b], runs[:, a] * runs[:, b])

    low, high = (
        interval(by_replicate_chunks(fit_drawn, replicated_metric, replicated, drawn))
        if len(drawn)
        else [float("nan")] * 2
    )
    return {
        "capability_slope": slope,
        "capability_ci_low": low,
        "capability_ci_high": high,
        "capability_pairs": int((~np.isnan(values[a, b])).sum()),
    }


def _level_matrix(
    values: np.ndarray, level_index: np.ndarray, n_levels: int
) -> tuple[np.ndarray, np.ndarray]:
    """[L, L] the mean over pairs with one run at each level (the diagonal: within a level), and
    [L, L] the defined pairs each rests on."""
    off_diagonal = ~np.eye(len(level_index), dtype=bool)
    matrix, pairs = np.full((n_levels, n_levels), np.nan), np.zeros((n_levels, n_levels), int)
    for i in range(n_levels):
        for j in range(n_levels):
            mask = (level_index == i)[:, None] & (level_index == j)[None, :] & off_diagonal
            pairs[i, j] = (mask & ~np.isnan(values)).sum() // (2 if i == j else 1)
            if mask.any():
                matrix[i, j] = pair_mean(values, mask.astype(float))
    return matrix, pairs


def unit_patterns(errors: np.ndarray, level_index: np.ndarray, n_levels: int) -> np.ndarray:
    """Each unit's pattern across the levels: failed by most runs (more than half) of the smallest
    level and by fewer than half of the largest (learned with scale), the reverse (lost with scale),
    failed by every run of every level (systemic across scale), or ""."""
    smallest = errors[level_index == 0].mean(axis=0)
    largest = errors[level_index == n_levels - 1].mean(axis=0)
    patterns = np.full(errors.shape[1], "", dtype=object)
    patterns[(smallest > 0.5) & (largest < 0.5)] = LEARNED
    patterns[(smallest < 0.5) & (largest > 0.5)] = LOST
    patterns[errors.all(axis=0)] = SYSTEMIC
    return patterns
