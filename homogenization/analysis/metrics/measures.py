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
canonical variate's loadings on the original units come from S_k V_k^T. A run with more dimensions
than units is decomposed through its N x N Gram instead and stands in as U S (X = U S V^T): its
products with other runs have the singular values of X's, at N instead of H. Every kept direction holds
at least 1%/H of the variance (more than 1% is left when it is reached), so dividing by S_k stays
well conditioned. The study is streamed tile by tile, like CKA's Gram (``gram_tiles``): a tile
prepares the runs of its two chunks only, in this process or in a job.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from homogenization.analysis.jobs import JobSplit, run_jobs
from homogenization.analysis.metrics.gram_tiles import chunks_of_runs, resolve_device, tiles, widths_of
from homogenization.analysis.metrics.similarity import centred
from homogenization.analysis.random_streams import stream

log = logging.getLogger(__name__)

VARIANCE_KEPT = 0.99
FORCED = "forced correlations"  # a tile's last layer: Pair.forced_correlations of its pairs


@dataclass
class Prepared:
    """What the pairwise measures need of one run, computed once."""

    values: torch.Tensor  # X, the centred representations [N, H]; or U S [N, N] when H > N (prepare)
    norm: float  # ||X||_F
    whitening: torch.Tensor  # V_k S_k^-1 [H, k] (wide: [N, k]): values @ it = the kept orthonormal basis
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


def prepare(values: np.ndarray, rsa_rows: np.ndarray | None, device: str = "cpu") -> Prepared:
    """One run's eigendecomposition, of the smaller of its covariance X^T X [H, H] and its Gram
    X X^T [N, N] (more dimensions than units: the pairs' products are then N x N, not H x H)."""
    x = centred(values, torch.float64).to(device)
    wide = x.shape[0] < x.shape[1]
    variances, directions = torch.linalg.eigh(x @ x.T if wide else x.T @ x)
    variances, directions = variances.flip(0).clamp(min=0), directions.flip(1)
    k = kept_directions(variances)
    scale = variances[:k].sqrt()
    if wide:  # X = U S V^T: stand in U S for X (the same products up to a rotation), S_k V_k^T = U_k^T X
        coordinates = directions * variances.sqrt()
        whitening = torch.eye(len(variances), k, dtype=x.dtype, device=device) / scale
        loadings = directions[:, :k].T @ x
    else:
        coordinates, whitening, loadings = x, directions[:, :k] / scale, scale[:, None] * directions[:, :k].T
    return Prepared(
        values=coordinates,
        norm=float(torch.linalg.matrix_norm(x)),
        whitening=whitening,
        loadings=loadings,
        rdm_ranks=None
        if rsa_rows is None
        else upper_triangle_ranks(
            torch.as_tensor(np.asarray(values)[rsa_rows], dtype=torch.float64, device=device)
        ),
    )


class Pair:
    """Two prepared runs and what several measures share: X_a^T X_b, and the canonical
    correlations of the kept subspaces."""

    def __init__(self, a: Prepared, b: Prepared):
        self.a, self.b = a, b

    @cached_property
    def cross(self) -> torch.Tensor:
        """X_a^T X_b [H_a, H_b] (RSA alone never needs it)."""
        return self.a.values.T @ self.b.values

    @cached_property
    def canonical(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(rho, P, Q): canonical correlations (descending) of the kept subspaces and the
        directions of a's [k_a, m] and b's [k_b, m] canonical variates in their bases."""
        overlap = self.a.whitening.T @ self.cross @ self.b.whitening  # [k_a, k_b]
        p, rho, qh = torch.linalg.svd(overlap, full_matrices=False)
        return torch.clamp(rho, 0.0, 1.0), p, qh.T

    @property
    def forced_correlations(self) -> int:
        """How many canonical correlations are 1 whatever the runs: kept subspaces of k_a and k_b
        dimensions among the N - 1 of N centred units share at least k_a + k_b - (N - 1)."""
        units = self.a.values.shape[0]
        return max(0, self.a.whitening.shape[1] + self.b.whitening.shape[1] - (units - 1))


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




def prepared_bytes(units: int, width: int, rsa_units: int) -> int:
    """At most what ``prepare`` keeps of a run: its coordinates [N, r], whitening [r or H, k] and
    loadings [k, H] with k <= r = min(N, H), and RSA's ranks (float64)."""
    rank = min(units, width)
    return 8 * rank * (units + rank + width) + 4 * rsa_units * (rsa_units - 1)


def pairwise(
    measures: dict[str, Callable[[Pair], float]],
    representations: Sequence[np.ndarray],
    rsa_max_units: int,
    seed: int,
    device: str = "cpu",
    split: JobSplit | None = None,
) -> dict[str, np.ndarray]:
    """``measures`` (name -> its function of a prepared ``Pair``: the registry's ``pair_function``)
    for every pair of runs: name -> [R, R] (NaN on the diagonal). Runs are dealt
    into chunks and a tile (a pair of chunks) prepares its runs only, so memory does not grow with
    the study; the tiles run in this process or, like CKA's Gram, in the jobs of ``split``, on
    ``device`` (float64 throughout: Procrustes near 0 needs it)."""
    runs = len(representations)
    if not measures or runs < 2:
        return {name: np.full((runs, runs), np.nan) for name in measures}
    found = {name: np.full((runs, runs), np.nan) for name in [*measures, FORCED]}
    rows = len(representations[0])
    rsa_rows = (
        np.sort(stream(seed, "rsa").choice(rows, min(rows, rsa_max_units), replace=False))
        if "rsa" in measures
        else None
    )
    run_bytes = prepared_bytes(
        rows, max(widths_of(representations)), 0 if rsa_rows is None else len(rsa_rows)
    )
    split = split or JobSplit()
    all_tiles = tiles(chunks_of_runs(runs, run_bytes, split.jobs, multiple=1))  # ~TILE_BYTES a chunk
    arguments = (representations, measures, rsa_rows, device)
    if split.jobs <= 1:
        shares, results = [all_tiles], [measure_tiles(all_tiles, *arguments)]
    else:  # consecutive tiles, which mostly share their first chunk (prepared once in a job)
        bounds = np.linspace(0, len(all_tiles), min(split.jobs, len(all_tiles)) + 1).astype(int)
        shares = [all_tiles[start:stop] for start, stop in zip(bounds, bounds[1:])]
        results = run_jobs(measure_tiles, shares, arguments, split, "Further measures")
    for share, found_in_share in zip(shares, results):
        for (first, second), values in zip(share, found_in_share):
            for name, tile in zip([*measures, FORCED], values):
                if first == second:  # a diagonal tile computed the pairs a < b only
                    tile = np.where(np.isnan(tile), tile.T, tile)
                found[name][first.start : first.stop, second.start : second.stop] = tile
                found[name][second.start : second.stop, first.start : first.stop] = tile.T
    warn_of_forced_correlations(found.pop(FORCED), measures, rows)
    return found


def warn_of_forced_correlations(forced: np.ndarray, measures: dict, units: int) -> None:
    """One line when SVCCA or PWCCA rest on canonical correlations that are 1 by construction
    (Pair.forced_correlations): kept subspaces too wide for the units."""
    asked = [name for name in ("svcca", "pwcca") if name in measures]
    pairs = np.triu(forced > 0, k=1)
    if asked and pairs.any():
        log.warning(
            "%s: in %d of %d pairs the runs' 99%%-variance subspaces together have more dimensions "
            "than the %d units allow (up to %d canonical correlations are 1 whatever the runs): "
            "SVCCA is inflated and PWCCA depends on an arbitrary basis there; use more units, or "
            "representations with fewer dimensions",
            "/".join(asked),
            int(pairs.sum()),
            len(forced) * (len(forced) - 1) // 2,
            units,
            int(np.nanmax(forced)),
        )


def measure_tiles(
    assigned: list[tuple[range, range]],
    representations: Sequence[np.ndarray],
    measures: dict[str, Callable[[Pair], float]],
    rsa_rows: np.ndarray | None,
    device: str,
) -> list[np.ndarray]:
    """A job's work: for each tile (first, second), ``measures`` of its pairs and last their
    forced correlations [len(measures) + 1, len(first), len(second)] (a diagonal tile: the pairs
    a < b, NaN elsewhere). The runs of a tile's first chunk stay prepared for the tiles after it
    with the same first chunk."""
    device = resolve_device(device)
    started, kept_first, left = time.monotonic(), None, {}
    found = []
    for first, second in assigned:
        if first != kept_first:
            kept_first, left = first, {a: prepare(representations[a], rsa_rows, device) for a in first}
        right = (
            left if second == first else {b: prepare(representations[b], rsa_rows, device) for b in second}
        )
        values = np.full((len(measures) + 1, len(first), len(second)), np.nan)
        for row, a in enumerate(first):
            for column, b in enumerate(second):
                if b > a:
                    pair = Pair(left[a], right[b])
                    found_here = [function(pair) for function in measures.values()]
                    values[:, row, column] = [*found_here, pair.forced_correlations]
        found.append(values)
        if len(found) % 10 == 0:
            log.info(
                "Further measures: %d of %d tiles [%.0f s]",
                len(found),
                len(assigned),
                time.monotonic() - started,
            )
    return found
