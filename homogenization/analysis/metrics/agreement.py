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
    return agreement, cohen_kappa(agreement, one_hot.mean(axis=1))


def cohen_kappa(agreement: np.ndarray, label_rates: np.ndarray) -> np.ndarray:
    """Cohen's kappa from agreement [..., R, R] and each run's label distribution [..., R, C]."""
    chance = label_rates @ np.swapaxes(label_rates, -1, -2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(chance < 1, (agreement - chance) / (1 - chance), np.nan)


def entropy_bits(p: np.ndarray) -> np.ndarray:
    """Shannon entropy (base 2) of each row of a probability array [..., N, C]: [..., N]."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log2(p), 0.0).sum(axis=-1)


def jensen_shannon_rows(p: np.ndarray, q: np.ndarray, p_entropy: np.ndarray | None = None,
                        q_entropy: np.ndarray | None = None) -> np.ndarray:
    """Jensen-Shannon divergence (base 2, in [0, 1]) of each row of two probability arrays
    [..., N, C]: [..., N]. Computed as H(m) - (H(p) + H(q)) / 2 with m = (p + q) / 2, so a caller
    comparing one run with many passes each run's entropies (``entropy_bits``) once and pays one
    logarithm per pair and entry instead of two."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    p_entropy = entropy_bits(p) if p_entropy is None else p_entropy
    q_entropy = entropy_bits(q) if q_entropy is None else q_entropy
    divergence = entropy_bits((p + q) / 2) - (p_entropy + q_entropy) / 2
    return np.clip(divergence, 0.0, 1.0)    # rounding: identical rows give 0 exactly, never -1e-17


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


def block_products(values: np.ndarray, blocks: np.ndarray, n_blocks: int) -> np.ndarray:
    """sum over the rows of each block of <values[a, row], values[b, row]>: [R, R, M] from
    ``values`` [R, N, K] (K per-row components, e.g. one per label)."""
    runs = values.shape[0]
    counts = np.zeros((runs, runs, n_blocks))
    for block in range(n_blocks):
        part = values[:, blocks == block].reshape(runs, -1).astype(np.float64)
        counts[:, :, block] = part @ part.T
    return counts


def capa(overlap: np.ndarray, gold_probability: np.ndarray, n_labels: int) -> np.ndarray:
    """CAPA, chance-adjusted probabilistic agreement kappa_p (Goel et al. 2025), for every pair.

    ``overlap`` [..., R, R]: the mean over rows of sum_c p_a(c) p_b(c), the probability that the
    two runs' sampled answers agree; ``gold_probability`` [..., R]: each run's mean probability on
    the gold label. Two runs that are independent given their accuracies agree by chance with
    probability p_a p_b + (1 - p_a)(1 - p_b) / (C - 1) (both right, or both wrong on the same of
    the C - 1 wrong labels); kappa_p = (observed - chance) / (1 - chance).
    """
    p_a, p_b = gold_probability[..., :, None], gold_probability[..., None, :]
    chance = p_a * p_b + (1 - p_a) * (1 - p_b) / (n_labels - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(chance < 1, (overlap - chance) / (1 - chance), np.nan)


def same_wrong_chance(wrong_label: np.ndarray, wrong: np.ndarray, gold: np.ndarray,
                      n_labels: int) -> np.ndarray:
    """What "same wrong label" would be for every pair if the two runs erred independently, each
    with its own distribution of wrong labels given the gold label: among the rows both get wrong,
    the mean over gold labels g of sum_l q_a(l | g) q_b(l | g), weighted by the rows of gold g both
    get wrong. 1 / (C - 1) only when wrong answers are uniform; two runs that both favour one wrong
    label reach far more by chance. ``wrong_label`` [R, N, C] one-hot of the wrong prediction (0 when
    right), ``wrong`` [R, N] bool. NaN with two labels or for pairs that never err together."""
    runs = len(wrong)
    weighted, total = np.zeros((runs, runs)), np.zeros((runs, runs))
    for g in np.unique(gold):
        rows = gold == g
        counts = wrong_label[:, rows].sum(axis=1).astype(np.float64)                 # [R, C]
        with np.errstate(invalid="ignore", divide="ignore"):
            q = counts / counts.sum(axis=1, keepdims=True)
        both = wrong[:, rows].astype(np.float64) @ wrong[:, rows].T.astype(np.float64)
        weighted += both * np.nan_to_num(q @ q.T)
        total += both
    with np.errstate(invalid="ignore", divide="ignore"):
        chance = weighted / total
    return np.full_like(chance, np.nan) if n_labels <= 2 else chance


def same_wrong_rate(same_wrong: np.ndarray, both_wrong: np.ndarray, n_labels: int) -> np.ndarray:
    """Among the rows both runs get wrong, the fraction where they give the same wrong label (Kim
    et al. 2025); chance is 1 / (C - 1). Undefined (NaN) with two labels, where it is always 1,
    and for pairs that never err together."""
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = same_wrong / both_wrong
    return np.full_like(rate, np.nan) if n_labels <= 2 else rate
