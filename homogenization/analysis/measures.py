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

All four come from one eigendecomposition per run, of the H x H covariance X^T X = V S^2 V^T of
its centred representations, and one product per pair, X_a^T X_b: Procrustes is its nuclear norm,
X V_k S_k^-1 is an orthonormal basis of the run's 99%-variance subspace (so the canonical
correlations are the singular values of S_a^-1 V_a^T (X_a^T X_b) V_b S_b^-1, kept corner), and a
canonical variate's loadings on the original units come from S_k V_k^T. So the study is streamed:
runs are read a chunk at a time (``pairwise``), never all at once. Every kept direction holds at
least 1%/H of the variance (more than 1% is left when it is reached), so dividing by S_k stays
well conditioned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from homogenization.analysis.pair_work import widths_of
from homogenization.analysis.similarity import centred

log = logging.getLogger(__name__)

VARIANCE_KEPT = 0.99
CHUNK_BYTES = 2**28  # the runs prepared at once: two chunks of about this many bytes


@dataclass
class Prepared:
    """What the pairwise measures need of one run, computed once."""

    values: torch.Tensor  # X: the centred representations [N, H]
    norm: float  # ||X||_F
    whitening: torch.Tensor  # V_k S_k^-1 [H, k]: X V_k S_k^-1 is an orthonormal basis of the kept subspace
    loadings: torch.Tensor  # S_k V_k^T [k, H]: that basis's loadings on the original units (neurons)
    rdm_ranks: torch.Tensor | None = None  # ranks of the RSA subsample's upper-triangle dissimilarities


def kept_directions(variances: torch.Tensor, kept: float = VARIANCE_KEPT) -> int:
    """The fewest leading directions (``variances`` descending) holding ``kept`` of the variance."""
    share = torch.cumsum(variances, 0) / torch.clamp(variances.sum(), min=1e-300)
    k = int(torch.searchsorted(share, torch.tensor(kept, dtype=share.dtype)).item()) + 1
    return min(k, len(variances))


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
    variances, directions = torch.linalg.eigh(x.T @ x)
    variances, directions = variances.flip(0).clamp(min=0), directions.flip(1)
    k = kept_directions(variances)
    scale = variances[:k].sqrt()
    return Prepared(
        values=x,
        norm=float(torch.linalg.matrix_norm(x)),
        whitening=directions[:, :k] / scale,
        loadings=scale[:, None] * directions[:, :k].T,
        rdm_ranks=None
        if rsa_rows is None
        else upper_triangle_ranks(torch.as_tensor(np.asarray(values)[rsa_rows], dtype=torch.float64)),
    )


class Pair:
    """Two prepared runs and what several measures share: X_a^T X_b, and the canonical
    correlations of the kept subspaces."""

    def __init__(self, a: Prepared, b: Prepared):
        self.a, self.b = a, b
        self.cross = a.values.T @ b.values  # [H_a, H_b]

    @cached_property
    def canonical(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(rho, P, Q): canonical correlations (descending) of the kept subspaces and the
        directions of a's [k_a, m] and b's [k_b, m] canonical variates in their bases."""
        overlap = self.a.whitening.T @ self.cross @ self.b.whitening  # [k_a, k_b]
        p, rho, qh = torch.linalg.svd(overlap, full_matrices=False)
        return torch.clamp(rho, 0.0, 1.0), p, qh.T


def procrustes(pair: Pair) -> float:
    # Zero-padding the narrower to equal width leaves the singular values of X_a^T X_b unchanged.
    nuclear = torch.linalg.matrix_norm(pair.cross, ord="nuc") / (pair.a.norm * pair.b.norm)
    return float(torch.arccos(torch.clamp(nuclear, -1.0, 1.0)))


def svcca(pair: Pair) -> float:
    return float(pair.canonical[0].mean())


def _projection_weighted(rho: torch.Tensor, variates: torch.Tensor, loadings: torch.Tensor) -> float:
    """One direction of PWCCA: each canonical variate's weight is the sum of |<h_i, x_j>| over the
    original units x_j (``variates``^T ``loadings``)."""
    weights = (variates.T @ loadings).abs().sum(dim=1)
    return float((weights * rho).sum() / weights.sum())


def pwcca(pair: Pair) -> float:
    rho, p, q = pair.canonical
    one_way = _projection_weighted(rho, p, pair.a.loadings)
    return 0.5 * (one_way + _projection_weighted(rho, q, pair.b.loadings))


def rsa(pair: Pair) -> float:
    x = pair.a.rdm_ranks - pair.a.rdm_ranks.mean()
    y = pair.b.rdm_ranks - pair.b.rdm_ranks.mean()
    return float((x @ y) / (x.norm() * y.norm()))


REPRESENTATION_MEASURES: dict[str, Callable[[Pair], float]] = {
    "procrustes": procrustes,
    "svcca": svcca,
    "pwcca": pwcca,
    "rsa": rsa,
}


def pairwise(
    measures: list[str], representations: Sequence[np.ndarray], rsa_max_units: int, seed: int
) -> dict[str, np.ndarray]:
    """``measures`` for every pair of runs: name -> [R, R] (NaN on the diagonal). The runs are
    prepared a chunk at a time (two chunks in memory: a chunk's pairs with the chunks after it),
    so memory does not grow with the study; each run is read and decomposed once per chunk it is
    paired with after its own."""
    runs = len(representations)
    found = {name: np.full((runs, runs), np.nan) for name in measures}
    if not measures or runs < 2:
        return found
    rows = len(representations[0])
    rsa_rows = (
        np.sort(np.random.default_rng(seed).choice(rows, min(rows, rsa_max_units), replace=False))
        if "rsa" in measures
        else None
    )
    run_bytes = 8 * rows * max(widths_of(representations))
    if rsa_rows is not None:
        run_bytes += 8 * len(rsa_rows) ** 2 // 2
    per_chunk = max(1, CHUNK_BYTES // run_bytes)
    chunks = [range(start, min(start + per_chunk, runs)) for start in range(0, runs, per_chunk)]
    started = time.monotonic()
    for number, first in enumerate(chunks):
        left = {index: prepare(representations[index], rsa_rows) for index in first}
        for second in chunks[number:]:
            right = left if second == first else {i: prepare(representations[i], rsa_rows) for i in second}
            for a in first:
                for b in second:
                    if b > a:
                        pair = Pair(left[a], right[b])
                        for name in measures:
                            found[name][a, b] = found[name][b, a] = REPRESENTATION_MEASURES[name](pair)
        log.info("Further measures: runs %d-%d of %d paired [%.0f s]", first.start + 1, first.stop, runs,
                 time.monotonic() - started)
    return found
