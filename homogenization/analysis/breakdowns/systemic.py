"""Systemic failure: how many runs fail each unit, against what independent runs would give.

If R runs erred independently with error rates e_1..e_R, the number K of runs failing a unit
would follow the Poisson-binomial distribution of those rates. Homogenized runs put more mass at
K = 0 and K = R (every run right, or every run wrong) than that distribution predicts.
"""

from __future__ import annotations

import numpy as np


def poisson_binomial(probabilities: np.ndarray) -> np.ndarray:
    """P(K = k), k = 0..R, for K the number of successes of independent Bernoulli(p_r) trials."""
    pmf = np.array([1.0])
    for p in np.asarray(probabilities, dtype=np.float64):
        pmf = np.concatenate([pmf * (1 - p), [0.0]]) + np.concatenate([[0.0], pmf * p])
    return pmf


def failure_histogram(errors: np.ndarray) -> np.ndarray:
    """Fraction of units failed by exactly k runs, k = 0..R. ``errors``: bool [R, N]."""
    runs, n = errors.shape
    return np.bincount(errors.sum(axis=0), minlength=runs + 1) / n


def fleiss_kappa(errors: np.ndarray) -> float:
    """Fleiss' kappa of the runs as raters of each unit, with categories right / wrong."""
    runs, n = errors.shape
    wrong = errors.sum(axis=0).astype(np.float64)
    counts = np.stack([wrong, runs - wrong], axis=1)          # [N, 2]
    per_unit = ((counts**2).sum(axis=1) - runs) / (runs * (runs - 1))
    category = counts.sum(axis=0) / (n * runs)
    chance = (category**2).sum()
    if chance == 1:
        return float("nan")
    return float((per_unit.mean() - chance) / (1 - chance))


def systemic_failure(errors: np.ndarray) -> dict[str, float | list[float]]:
    """Observed vs independent rates of all-fail and of homogeneous outcomes, and the K histogram."""
    runs = errors.shape[0]
    observed = failure_histogram(errors)
    expected = poisson_binomial(errors.mean(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "all_wrong": float(observed[runs]),
            "all_wrong_independent": float(expected[runs]),
            "all_wrong_ratio": float(observed[runs] / expected[runs]),
            "homogeneous_outcome": float(observed[0] + observed[runs]),
            "homogeneous_outcome_independent": float(expected[0] + expected[runs]),
            "fleiss_kappa": fleiss_kappa(errors) if runs > 1 else float("nan"),
            "k_observed": observed.tolist(),
            "k_independent": expected.tolist(),
        }
