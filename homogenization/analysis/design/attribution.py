"""Like with like: the matched within/across comparison, its confounds, and what makes runs agree.

**Matched comparison.** "Within" pairs (same group) and "across" pairs (different groups) are
compared only where they differ in the grouping alone. Each pair has a *sharing signature*: which
of the other factors (``design.other_factors``) its two runs share. Across pairs are re-weighted so
that their signatures are distributed like the within pairs' (signatures found on one side only
are dropped), and every group (within) or pair of groups (across) carries equal weight unless
``analysis.pair_weighting`` says each pair does. Example: models x seeds, where ``seed`` also fixes
the data order: within-model pairs never share a seed, so the across side keeps only the pairs of
different seeds.

**Attribution.** Each pair metric is regressed on the pair's sharing indicators (the grouping's and
every other factor's) by least squares over pairs: the coefficient of a factor is how much more two
runs agree when they share it, the others held fixed. A factor's levels are a sample (these seeds,
these architectures), so its interval comes from its levels (``level_interval``): the effect fitted
per level, their spread, a t interval on levels - 1 degrees of freedom. Its coverage in
simulated factorial studies with a known truth, per regime, is in ``analysis/calibration.csv``
(benchmarks/attribution_coverage.py), which the report quotes; the multi-bootstrap over levels and
test blocks it replaces (Owen's pigeonhole bootstrap) covered 0.975-1.00, counting each pair's own
noise more than once.
The baseline (pairs that share nothing) keeps that multi-bootstrap interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from homogenization.analysis.design.read_design import Factor
from homogenization.analysis.metrics.bootstrap import (
    by_replicate_chunks,
    crossed_interval,
    gradient_scale,
    interval,
    pair_gradient,
    pair_mean,
    run_effect_scale,
    t_quantile,
)
from homogenization.analysis.metrics.registry import REPLICATES_PER_CHUNK


@dataclass
class Comparison:
    """The pair weights of the two sides, [B, R, R] each (replicate 0 of a point estimate is all
    ones), and what was matched."""

    within: np.ndarray
    across: np.ndarray
    matched_on: list[str]
    dropped_within: int      # within pairs whose signature no across pair has


def upper(n: int) -> np.ndarray:
    return np.triu(np.ones((n, n), dtype=bool), k=1)


def sharing_strata(others: list[Factor], n_runs: int) -> np.ndarray:
    """[R, R] int: pairs with the same signature (which other factors they share) get one id."""
    if not others:
        return np.zeros((n_runs, n_runs), dtype=np.int64)
    bits = np.stack([f.shared() for f in others], axis=-1).astype(np.int64)
    return bits @ (1 << np.arange(len(others)))


def cells(group_index: np.ndarray) -> np.ndarray:
    """[R, R] int: a within pair's cell is its group, an across pair's its (unordered) pair of groups."""
    g = len(np.unique(group_index))
    low = np.minimum(group_index[:, None], group_index[None, :])
    high = np.maximum(group_index[:, None], group_index[None, :])
    return np.where(low == high, low, g + low * g + high)


def _sum_by(ids: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """Sum weights [B, R, R] over the pairs of each id [R, R] in 0..n-1: [B, n]."""
    onehot = np.zeros((ids.size, n))
    onehot[np.arange(ids.size), ids.ravel()] = 1.0
    return weights.reshape(len(weights), ids.size) @ onehot


def _equal_cells(weights: np.ndarray, cell: np.ndarray) -> np.ndarray:
    n = int(cell.max()) + 1
    totals = _sum_by(cell, weights, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(totals > 0, 1.0 / totals, 0.0)
    return weights * scale[:, cell]


def compare(pair_draws: np.ndarray, group_index: np.ndarray, others: list[Factor],
            equal_groups: bool = True) -> Comparison:
    """The matched weights of the within and across sides under ``pair_draws`` [B, R, R] (an array,
    or anything sliced into one along replicates, e.g. ``study.PairDraws``),
    ``REPLICATES_PER_CHUNK`` replicates at a time (each replicate's weights are its own; the
    float64 temporaries of all of them at once would be several times the result)."""
    if len(pair_draws) <= REPLICATES_PER_CHUNK:
        return _compare(pair_draws[0:len(pair_draws)], group_index, others, equal_groups)
    # filled chunk by chunk: a list of parts and their concatenation would hold both sides twice
    within, across = np.empty(pair_draws.shape, np.float32), np.empty(pair_draws.shape, np.float32)
    for start in range(0, len(pair_draws), REPLICATES_PER_CHUNK):
        part = _compare(pair_draws[start:start + REPLICATES_PER_CHUNK], group_index, others, equal_groups)
        within[start:start + REPLICATES_PER_CHUNK], across[start:start + REPLICATES_PER_CHUNK] = \
            part.within, part.across
    return Comparison(within, across, part.matched_on, part.dropped_within)


def _compare(pair_draws: np.ndarray, group_index: np.ndarray, others: list[Factor],
             equal_groups: bool) -> Comparison:
    n = len(group_index)
    same = group_index[:, None] == group_index[None, :]
    top = upper(n)
    within = pair_draws * (same & top)
    across = pair_draws * (~same & top)
    if equal_groups:
        cell = cells(group_index)
        within, across = _equal_cells(within, cell), _equal_cells(across, cell)
    strata = sharing_strata(others, n)
    _, strata = np.unique(strata, return_inverse=True)
    strata = strata.reshape(n, n)
    s = int(strata.max()) + 1
    w_share, a_share = _sum_by(strata, within, s), _sum_by(strata, across, s)
    with np.errstate(invalid="ignore", divide="ignore"):
        w_share = w_share / w_share.sum(1, keepdims=True)
        a_share = a_share / a_share.sum(1, keepdims=True)
        ratio = np.where(a_share > 0, w_share / a_share, 0.0)
    ratio = np.nan_to_num(ratio)
    kept = (np.nan_to_num(a_share) > 0).astype(float)
    point_signatures = strata[same & top]
    dropped = int((kept[0][point_signatures] == 0).sum()) if len(point_signatures) and len(kept) else 0
    matched = [f.name for f in others if len(np.unique(f.shared()[top])) > 1]
    single = np.float32
    return Comparison((within * kept[:, strata]).astype(single, copy=False),
                      (across * ratio[:, strata]).astype(single, copy=False), matched, dropped)


def confounds(values: np.ndarray, group_index: np.ndarray, others: list[Factor]) -> list[dict]:
    """Factors shared by a different share of within and across pairs, with how the pairs that
    share them and the others agree (on one metric's point values [R, R])."""
    n = len(group_index)
    same = group_index[:, None] == group_index[None, :]
    top = upper(n)
    found = []
    for factor in others:
        shared = factor.shared()
        rates = {}
        for side, mask in (("within", same & top), ("across", ~same & top)):
            total = int(mask.sum())
            rates[side] = (int((mask & shared).sum()), total)
        (w_share, w_total), (a_share, a_total) = rates["within"], rates["across"]
        if not w_total or not a_total or w_share / w_total == a_share / a_total:
            continue
        for side, mask in (("within", same & top), ("across", ~same & top)):
            sharing, total = rates[side]
            defined = ~np.isnan(values)
            if 0 < sharing < total and (mask & shared & defined).any() and (mask & ~shared & defined).any():
                found.append({"factor": factor.name, "side": side, "sharing": sharing, "pairs": total,
                              "mean_sharing": float(np.nanmean(values[mask & shared])),
                              "mean_not_sharing": float(np.nanmean(values[mask & ~shared]))})
            else:
                found.append({"factor": factor.name, "side": side, "sharing": sharing, "pairs": total,
                              "mean_sharing": float("nan"), "mean_not_sharing": float("nan")})
    return found


def side_estimates(values: np.ndarray, replicated: np.ndarray, point: Comparison,
                   replicates: Comparison, freedom: int) -> dict:
    """within, across, difference with intervals (``bootstrap.crossed_interval``; ``freedom``: runs
    less groups), and the pairs each side rests on."""
    entry = {}
    draws = {}
    for side in ("within", "across"):
        weights, drawn = getattr(point, side)[0], getattr(replicates, side)
        entry[side] = float(pair_mean(values, weights))
        entry[f"{side}_pairs"] = int(((weights > 0) & ~np.isnan(values)).sum())
        entry[f"{side}_pairs_total"] = int((weights > 0).sum())
        draws[side] = (pair_mean(values, drawn), pair_mean(replicated, weights), pair_mean(replicated, drawn))
        entry[f"{side}_ci"] = crossed_interval(entry[side], *draws[side], run_effect_scale(weights, drawn),
                                               freedom)
    entry["difference"] = entry["within"] - entry["across"]
    # run_effect_scale of within less across, one side's gradients at a time (a stacked [2, B, R, R]
    # copy of both sides' weights was the analysis's largest array at 300 runs)
    defined = (replicates.within.sum(axis=(-2, -1)) > 0) & (replicates.across.sum(axis=(-2, -1)) > 0)
    scale = gradient_scale(pair_gradient(point.within[0]) - pair_gradient(point.across[0]),
                           pair_gradient(replicates.within) - pair_gradient(replicates.across), defined)
    entry["difference_ci"] = crossed_interval(
        entry["difference"], *(w - a for w, a in zip(draws["within"], draws["across"])), scale, freedom)
    return entry


def weighted_least_squares(design: np.ndarray, weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Weighted least squares for each replicate: design [P, K] (or one per replicate, [B, P, K]),
    weights and values [B, P] -> [B, K]. A replicate whose drawn runs cannot separate the columns
    (e.g. no drawn pair shares a factor) has no estimate (NaN), rather than a zero that would drag
    the interval towards it."""
    design = np.broadcast_to(design, (len(weights), *design.shape[-2:]))
    xtwx = np.einsum("bp,bpk,bpl->bkl", weights, design, design)
    xtwy = np.einsum("bp,bpk,bp->bk", weights, design, values)
    solved = np.einsum("bkl,bl->bk", np.linalg.pinv(xtwx, hermitian=True), xtwy)
    scale = np.abs(xtwx).max(axis=(1, 2), keepdims=True)
    rank = np.linalg.matrix_rank(xtwx / np.where(scale > 0, scale, 1.0), hermitian=True)
    solved[rank < design.shape[-1]] = np.nan
    return solved


def level_interval(design: np.ndarray, column: int, pair_levels: np.ndarray, values: np.ndarray,
                   effect: float) -> list[float]:
    """The 95% interval of one factor's sharing effect from its levels.

    The effect is fitted again with one sharing indicator per level in place of its column
    (``pair_levels``: the level both runs of a pair share, -1 where they differ); the levels'
    effects d_l spread around the effect as another draw of levels would move it, so its variance
    is L / (L - 1) sum_l w_l^2 (d_l - effect)^2 (w_l: level l's share of the sharing pairs) and the
    interval is a t interval on L - 1 degrees of freedom. It holds what makes a level's sharing
    matter more or less (its own strength, its runs, its test items' noise), as a level bootstrap
    would, without the pigeonhole bootstrap's counting the pairs' noise twice."""
    levels = [level for level in np.unique(pair_levels) if level >= 0]
    if len(levels) < 2:
        return [float("nan"), float("nan")]
    per_level = np.column_stack([(pair_levels == level).astype(float) for level in levels])
    refit = np.column_stack([np.delete(design, column, axis=1), per_level])
    solved = weighted_least_squares(refit, np.ones((1, len(values))), values[None])[0]
    if not np.isfinite(solved).all():
        return [float("nan"), float("nan")]
    shares = per_level.sum(0) / per_level.sum()
    spread = solved[-len(levels):] - effect
    variance = len(levels) / (len(levels) - 1) * float((shares**2 * spread**2).sum())
    half = t_quantile(0.975, len(levels) - 1) * np.sqrt(variance)
    return [effect - half, effect + half]


def few_levels_note(levels: int) -> str:
    """Why a factor's interval is wide by design: a t interval on levels - 1 degrees of freedom."""
    if levels == 2:
        return ("2 levels: its interval rests on 1 degree of freedom (t quantile 12.7); vary it at 3 "
                "levels or more to rank it")
    return ""


def attribute(point: dict[str, np.ndarray], replicated: dict[str, np.ndarray], pair_draws: np.ndarray,
              factors: list[Factor], metrics: list[str]) -> pd.DataFrame:
    """factors.csv: for each metric and factor, the effect of sharing it on the pair metric (the
    others held fixed), its 95% interval (``level_interval``) and the pairs that share it; the
    baseline (pairs sharing nothing) with a multi-bootstrap interval. ``factors``: the grouping
    and the other factors; a factor whose sharing is constant over the pairs, or the same as
    another's, is listed as not estimable."""
    n = len(factors[0].levels) if factors else 0
    top = upper(n)
    columns, names, pair_levels, notes = [], [], [], {}
    for factor in factors:
        shared = factor.shared()[top].astype(float)
        if shared.min() == shared.max():
            state = "shares" if shared.max() else "differs in"
            notes[factor.name] = f"not estimable: every pair {state} it"
            continue
        if any(np.array_equal(shared, c) for c in columns):
            notes[factor.name] = "not estimable: shared by exactly the pairs that share " + \
                names[next(i for i, c in enumerate(columns) if np.array_equal(shared, c))]
            continue
        columns.append(shared)
        names.append(factor.name)
        pair_levels.append(np.where(shared > 0, factor.levels[np.nonzero(top)[0]], -1))
    design = np.column_stack([np.ones(int(top.sum())), *columns]) if n else np.zeros((0, 1))
    rows = []
    for metric in metrics:
        values = point[metric][top]
        defined = ~np.isnan(values)
        estimate = weighted_least_squares(design[defined], np.ones((1, int(defined.sum()))),
                                          values[defined][None])[0]

        def baseline_fit(replicates: np.ndarray, drawn: np.ndarray) -> np.ndarray:
            draws = replicates[:, top]
            weights = np.where(np.isnan(draws), 0.0, drawn[:, top])
            return weighted_least_squares(design, weights, np.nan_to_num(draws))[:, 0]

        baseline = by_replicate_chunks(baseline_fit, replicated[metric], pair_draws)
        rows.append({"metric": metric, "factor": "(no factor shared)", "effect": float(estimate[0]),
                     **dict(zip(("ci_low", "ci_high"), interval(baseline))),
                     "pairs_sharing": 0, "pairs": int(defined.sum()), "note": "baseline"})
        for index, name in enumerate(names, start=1):
            levels = pair_levels[index - 1][defined]
            low, high = level_interval(design[defined], index, levels, values[defined],
                                       float(estimate[index]))
            rows.append({"metric": metric, "factor": name, "effect": float(estimate[index]),
                         "ci_low": low, "ci_high": high,
                         "pairs_sharing": int(design[defined, index].sum()), "pairs": int(defined.sum()),
                         "note": few_levels_note(len(np.unique(levels[levels >= 0])))})
        for name, note in notes.items():
            rows.append({"metric": metric, "factor": name, "effect": float("nan"), "ci_low": float("nan"),
                         "ci_high": float("nan"), "pairs_sharing": 0, "pairs": int(defined.sum()),
                         "note": note})
    return pd.DataFrame(rows, columns=["metric", "factor", "effect", "ci_low", "ci_high", "pairs_sharing",
                                       "pairs", "note"])
