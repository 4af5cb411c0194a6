"""Pairwise agreement of predictions and of errors, for all pairs of runs at once.

Every function takes arrays with a leading run axis and returns [R, R] matrices (or adds a
leading bootstrap axis), so a sweep of 50 runs costs a handful of matrix products.

Definitions (``e`` = error rate of a run, ``b`` = fraction of units both runs get wrong):
- agreement: fraction of units with the same predicted label; Cohen's kappa corrects it for the
  agreement expected from each run's label distribution.
- error consistency (Geirhos et al. 2020): c_obs = 1 - (e_a + e_b - 2b) is the fraction of units
  both get right or both get wrong, c_exp = p_a p_b + e_a e_b with p = 1 - e the agreement of two
  independent runs with these accuracies; kappa_err = (c_obs - c_exp) / (1 - c_exp).
- error Jaccard: b / (e_a + e_b - b), the overlap of the two error sets.
- homogenization ratio (Bommasani et al. 2022): b / (e_a e_b), 1 when errors are independent,
  > 1 when they fall on the same units.
"""

from __future__ import annotations

import numpy as np


def label_agreement(preds: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Agreement and Cohen's kappa for every pair of runs. ``preds``: int [R, N]."""
    n = preds.shape[1]
    one_hot = np.zeros((preds.shape[0], n, n_classes))
    np.put_along_axis(one_hot, preds[..., None], 1.0, axis=2)
    flat = one_hot.reshape(len(preds), -1)
    agreement = (flat @ flat.T) / n
    label_rates = one_hot.mean(axis=1)                   # [R, C]
    chance = label_rates @ label_rates.T
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = np.where(chance < 1, (agreement - chance) / (1 - chance), np.nan)
    return agreement, kappa


def error_pair_stats(error_rate: np.ndarray, both_wrong: np.ndarray) -> dict[str, np.ndarray]:
    """Error consistency, Jaccard and homogenization ratio from error rates and co-error rates.

    ``error_rate``: [..., R]; ``both_wrong``: [..., R, R] (the fraction of units both runs of the
    pair get wrong). Undefined values (a run without errors, or two perfect runs) are NaN.
    """
    e_a = error_rate[..., :, None]
    e_b = error_rate[..., None, :]
    c_obs = 1 - (e_a + e_b - 2 * both_wrong)
    c_exp = (1 - e_a) * (1 - e_b) + e_a * e_b
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "error_consistency": np.where(c_exp < 1, (c_obs - c_exp) / (1 - c_exp), np.nan),
            "both_wrong": both_wrong,
            "error_jaccard": both_wrong / (e_a + e_b - both_wrong),
            "homogenization_ratio": both_wrong / (e_a * e_b),
        }


def co_errors(errors: np.ndarray, blocks: np.ndarray, n_blocks: int) -> np.ndarray:
    """Units both runs get wrong, counted per block: float [R, R, M] from bool ``errors`` [R, N]."""
    runs = errors.shape[0]
    counts = np.zeros((runs, runs, n_blocks))
    as_float = errors.astype(np.float32)
    for block in range(n_blocks):
        part = as_float[:, blocks == block]
        counts[:, :, block] = part @ part.T
    return counts
