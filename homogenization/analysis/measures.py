"""The representation and prediction similarity measures papers report beside CKA, for pairs.csv.

Each is a point estimate for one pair of runs on the same test rows (``analysis.measures`` selects
them; linear CKA, mutual k-NN and the error-based metrics are computed with intervals elsewhere):

- ``procrustes``: angular Procrustes shape distance (Williams et al. 2021), in radians: centre
  both representations, scale each to unit Frobenius norm, zero-pad the narrower to equal width,
  arccos of the nuclear norm of X^T Y. 0 = the same up to rotation, reflection and scale.
- ``svcca`` (Raghu et al. 2017): keep each representation's top singular directions explaining
  99% of its variance, then the mean canonical correlation of the two reduced representations.
- ``pwcca`` (Morcos et al. 2018): the canonical correlations weighted by how much of the original
  units (neurons) of X each canonical variate accounts for (sum of |<h_i, x_j>|), on the same
  reduced representations; projection weighting is asymmetric, so the column holds the mean of
  both directions.
- ``rsa``: Spearman correlation of the upper triangles of the two dissimilarity matrices
  (1 - Pearson correlation between units), on one random subsample of at most
  ``analysis.rsa_max_units`` units shared by all pairs.
(The prediction measures ``jsd`` and ``disagreement`` are block-weighted, with intervals:
``block_statistics.py``.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from homogenization.analysis.similarity import centred

VARIANCE_KEPT = 0.99


@dataclass
class Prepared:
    """What the pairwise measures need of one run, computed once."""

    unit_norm: torch.Tensor      # centred, unit Frobenius norm [N, H]
    basis: torch.Tensor          # orthonormal basis of the 99%-variance subspace [N, k]
    neurons: torch.Tensor        # centred original units (columns) [N, H]
    rdm_ranks: torch.Tensor | None = None   # ranks of the RSA subsample's upper-triangle dissimilarities


def reduced_basis(x: torch.Tensor, kept: float = VARIANCE_KEPT) -> torch.Tensor:
    """Orthonormal basis (left singular vectors) of the fewest directions holding ``kept`` of the
    variance of centred ``x``."""
    u, s, _ = torch.linalg.svd(x, full_matrices=False)
    share = torch.cumsum(s**2, 0) / torch.clamp((s**2).sum(), min=1e-300)
    k = int(torch.searchsorted(share, torch.tensor(kept, dtype=share.dtype)).item()) + 1
    return u[:, : min(k, len(s))]


def upper_triangle_ranks(x: torch.Tensor) -> torch.Tensor:
    """Ranks of the upper-triangle entries of the dissimilarity matrix 1 - corr(units)."""
    rows = x - x.mean(dim=1, keepdim=True)
    rows = rows / torch.clamp(rows.norm(dim=1, keepdim=True), min=1e-300)
    dissimilarity = 1 - rows @ rows.T
    i, j = torch.triu_indices(len(x), len(x), offset=1)
    values = dissimilarity[i, j]
    ranks = torch.empty_like(values)
    ranks[torch.argsort(values)] = torch.arange(len(values), dtype=values.dtype)
    return ranks


def prepare(values: np.ndarray, rsa_rows: np.ndarray | None) -> Prepared:
    x = centred(values, torch.float64)
    return Prepared(unit_norm=x / torch.clamp(torch.linalg.matrix_norm(x), min=1e-300),
                    basis=reduced_basis(x), neurons=x,
                    rdm_ranks=None if rsa_rows is None else upper_triangle_ranks(
                        torch.as_tensor(np.asarray(values)[rsa_rows], dtype=torch.float64)))


def procrustes(a: Prepared, b: Prepared) -> float:
    # Zero-padding the narrower to equal width leaves X^T Y's singular values unchanged.
    nuclear = torch.linalg.matrix_norm(a.unit_norm.T @ b.unit_norm, ord="nuc")
    return float(torch.arccos(torch.clamp(nuclear, -1.0, 1.0)))


def canonical_correlations(a: Prepared, b: Prepared) -> tuple[torch.Tensor, torch.Tensor]:
    """Canonical correlations (descending) and a's canonical variates [N, k] as unit vectors."""
    u, s, _ = torch.linalg.svd(a.basis.T @ b.basis, full_matrices=False)
    return torch.clamp(s, 0.0, 1.0), a.basis @ u


def svcca(a: Prepared, b: Prepared) -> float:
    return float(canonical_correlations(a, b)[0].mean())


def _pwcca_one_way(a: Prepared, b: Prepared) -> float:
    rho, variates = canonical_correlations(a, b)
    weights = (variates.T @ a.neurons).abs().sum(dim=1)
    return float((weights * rho).sum() / weights.sum())


def pwcca(a: Prepared, b: Prepared) -> float:
    return 0.5 * (_pwcca_one_way(a, b) + _pwcca_one_way(b, a))


def rsa(a: Prepared, b: Prepared) -> float:
    x, y = a.rdm_ranks - a.rdm_ranks.mean(), b.rdm_ranks - b.rdm_ranks.mean()
    return float((x @ y) / (x.norm() * y.norm()))


REPRESENTATION_MEASURES: dict[str, Callable[[Prepared, Prepared], float]] = {
    "procrustes": procrustes, "svcca": svcca, "pwcca": pwcca, "rsa": rsa}


def pairwise(measures: list[str], representations: list[np.ndarray], degenerate: np.ndarray,
             rsa_max_units: int, seed: int) -> dict[str, np.ndarray]:
    """``measures`` for every pair of runs: name -> [R, R] (NaN on the diagonal, and for runs with
    degenerate representations)."""
    runs = len(representations)
    found = {name: np.full((runs, runs), np.nan) for name in measures}
    prepared = []
    if measures:
        rows = len(representations[0])
        rsa_rows = (np.sort(np.random.default_rng(seed).choice(rows, min(rows, rsa_max_units), replace=False))
                    if "rsa" in measures else None)
        prepared = [None if bad else prepare(values, rsa_rows)
                    for values, bad in zip(representations, degenerate)]
    for a in range(runs):
        for b in range(a + 1, runs):
            if prepared[a] is None or prepared[b] is None:
                continue
            for name in measures:
                value = REPRESENTATION_MEASURES[name](prepared[a], prepared[b])
                found[name][a, b] = found[name][b, a] = value
    return found
