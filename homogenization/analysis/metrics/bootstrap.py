"""The multi-bootstrap's pieces shared by the analyses: seed draws within groups, means over pairs
of runs under those draws, percentile intervals (see analysis.py for the design)."""

from __future__ import annotations

from collections.abc import Callable
from statistics import NormalDist

import numpy as np


def seed_draws_within(group_index: np.ndarray, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """How often each run is drawn in each replicate, resampling runs within their group: [B, R]."""
    counts = np.zeros((replicates, len(group_index)))
    for group in np.unique(group_index):
        members = np.flatnonzero(group_index == group)
        counts[:, members] = rng.multinomial(len(members), np.full(len(members), 1 / len(members)),
                                             size=replicates)
    return counts


# Replicates whose pair means are computed at once: the float64 temporaries of a [B, R, R] mean
# are three times its size (1 GB at 200 runs and B = 1,000), of a chunk a tenth of that.
PAIR_MEAN_CHUNK = 100


def pair_mean(values: np.ndarray, pair_weights: np.ndarray) -> np.ndarray:
    """Weighted mean over pairs [.., R, R], ignoring undefined (NaN) pairs; over replicates
    [B, R, R] (of the values, the weights or both), ``PAIR_MEAN_CHUNK`` replicates at a time."""
    shape = np.broadcast_shapes(np.shape(values), np.shape(pair_weights))
    if len(shape) < 3 or shape[0] <= PAIR_MEAN_CHUNK:
        return _pair_mean(values, pair_weights)
    return by_replicate_chunks(_pair_mean, np.broadcast_to(values, shape),
                               np.broadcast_to(pair_weights, shape))


def by_replicate_chunks(fit: Callable[..., np.ndarray], *replicated: np.ndarray) -> np.ndarray:
    """``fit`` of arrays with a leading replicate axis, ``PAIR_MEAN_CHUNK`` replicates at a time: a
    least-squares fit over every pair of 300 runs makes [B, P, K] float64 temporaries, 2 GB at
    B = 1,000 (the trend against capability, the attribution's baseline)."""
    replicates = len(replicated[0])
    if replicates <= PAIR_MEAN_CHUNK:
        return fit(*replicated)
    return np.concatenate([fit(*(array[start:start + PAIR_MEAN_CHUNK] for array in replicated))
                           for start in range(0, replicates, PAIR_MEAN_CHUNK)])


def _pair_mean(values: np.ndarray, pair_weights: np.ndarray) -> np.ndarray:
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


def run_effect_scale(point_weights: np.ndarray, replicate_weights: np.ndarray,
                     coefficients: np.ndarray | None = None) -> float:
    """How much of a run-level variance the runs-only bootstrap of a weighted pair mean sees:
    for pair values a_i + a_j (a run effect a of variance s^2 each), the replicates' expected
    variance over the estimate's true variance. Both are quadratic in a, so the ratio is exact and
    depends on the weights only: the gradient of the estimate, (W 1 + W' 1) / sum W, against the
    replicates'. ``point_weights`` [R, R], or [K, R, R] for a combination of K pair means: the sum
    of ``coefficients`` [K] times each (default [1, -1]: within less across; a trend's slope
    weighs its levels' means), ``replicate_weights`` likewise with a replicate axis ([K, B, R, R])."""
    point = pair_gradient(point_weights)
    replicates = pair_gradient(replicate_weights)
    defined = (replicate_weights.sum(axis=(-2, -1)) > 0)
    if point.ndim == 2:                      # [K, R] -> the combination of the K pair means
        combination = np.array([1.0, -1.0]) if coefficients is None else np.asarray(coefficients, float)
        point, replicates = np.tensordot(combination, point, 1), np.tensordot(combination, replicates, 1)
        defined = defined.all(0)
    return gradient_scale(point, replicates, defined)


def pair_gradient(weights: np.ndarray) -> np.ndarray:
    """[.., R]: the gradient of a weighted pair mean of a_i + a_j in the run effects a."""
    total = weights.sum(axis=(-2, -1))[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num((weights.sum(-1) + weights.sum(-2)) / total)


def gradient_scale(point: np.ndarray, replicates: np.ndarray, defined: np.ndarray) -> float:
    """``run_effect_scale`` from the estimate's gradient [R] and the replicates' [B, R] (those
    ``defined`` [B]): a combination of pair means can sum its gradients one mean at a time."""
    replicates = replicates[defined]
    truth = float((point**2).sum())
    if truth == 0 or len(replicates) < 2:
        return float("nan")
    return float(replicates.var(axis=0, ddof=1).sum() / truth)


MIN_FREEDOM = 1.0


def crossed_interval(estimate: float, runs_only: np.ndarray, items_only: np.ndarray,
                     both: np.ndarray, scale: float, freedom: float,
                     few_runs_noise: bool = False) -> list[float]:
    """The 95% interval of a statistic of runs crossed with test items, from three bootstraps of
    it: resampling runs (or their factors' levels) with the items fixed, the item blocks with the
    runs fixed, and both at once.

    Each alone misses the other's variance; both at once counts the run-by-item noise (a pair's
    own luck on these items) more than once: once per resampled dimension and again for their
    product (Owen 2007, the pigeonhole bootstrap). With V_R = cA + kE, V_I = B + E and
    V_RI = cA + B + (2k + 1)E for run variance A, item variance B and run-by-item noise E (k depends
    on how runs are drawn), cA = 2 V_R + V_I - V_RI whatever k is. ``scale`` is c, how much of a
    run-level variance the runs-only bootstrap sees (``run_effect_scale``; a bootstrap of few runs
    sees less). The run part rests on ``freedom`` degrees of freedom (runs less groups): the
    interval is a t interval with Satterthwaite's degrees of freedom, of variance V_I + A, around
    the estimate. ``few_runs_noise``: the run part is what is left of the runs-only variance V_R
    once the noise is taken out; with few runs that noise is estimated as poorly as the run
    variance, so the run part's degrees of freedom are scaled by (net / V_R)^2 (1 without noise).
    A trend's slope, resting on a few runs at each end of its axis, needs it (its coverage per
    regime: ``analysis/calibration.csv``, benchmarks/trend_coverage.py). The degrees of freedom are
    at least ``MIN_FREEDOM``: below one, a noisy run part would make the t quantile, and the
    interval, arbitrarily large (widths of 1e20 in simulation) without covering more.
    """
    variances = []
    for draws in (runs_only, items_only, both):
        finite = draws[np.isfinite(draws)]
        variances.append(float(np.var(finite, ddof=1)) if len(finite) > 1 else float("nan"))
    runs, items, joint = variances
    if not np.isfinite(estimate) or np.isnan(items):
        return [float("nan"), float("nan")]
    usable = not (np.isnan(runs) or np.isnan(joint) or not np.isfinite(scale) or scale <= 0)
    net = max(2 * runs + items - joint, 0.0) if usable else 0.0
    run_part = net / scale if usable else 0.0
    variance = items + run_part
    if few_runs_noise and net > 0 and runs > 0:
        freedom *= min(net / runs, 1.0) ** 2
    if variance <= 0:
        return [float(estimate), float(estimate)]
    freedom = variance**2 / (run_part**2 / freedom) if run_part > 0 and freedom > 0 else float("inf")
    freedom = max(freedom, MIN_FREEDOM)
    half = t_quantile(0.975, freedom) * np.sqrt(variance)
    return [float(estimate - half), float(estimate + half)]


def t_quantile(p: float, freedom: float) -> float:
    """Student's t quantile for any real degrees of freedom > 0 (scipy's; the normal's beyond 1e4)."""
    from scipy.stats import t as student_t

    if not np.isfinite(freedom) or freedom > 1e4:
        return NormalDist().inv_cdf(p)
    return float(student_t.ppf(p, freedom))
