"""Representation similarity between runs: linear CKA (plain and debiased) and mutual k-NN.

Linear CKA (Kornblith et al. 2019) on centred representations X [N, H] and Y [N, G]:
    CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)
computed in feature space (H x G products), never as N x N Gram matrices. For the block
bootstrap, the cross-covariance is accumulated per block of units: with C_m = X_m^T Y_m, the
numerator under block weights w is w^T G w, G[m, m'] = <C_m, C_m'>_F, so each bootstrap replicate
costs M^2 instead of N H G. Replicates keep the full-sample centring (its bootstrap shift is of
order 1/sqrt(N) and changes CKA only at order 1/N). A block drawn w times contributes its internal
pairs w times, not w^2: pairing units with their own copies is what biases the naive unit
bootstrap of CKA upwards (by 0.017 on a pair with CKA 0.51 in our check), while this replicate
distribution is centred on the estimate with the same spread.

Debiased CKA replaces HSIC by its unbiased estimator (Song et al. 2012), which for a linear
kernel on centred data needs only ||Y^T X||_F^2 and the rows' squared norms.

Mutual k-NN (Huh et al. 2024): for each unit, the fraction of its k nearest neighbours (cosine,
the unit itself excluded) that the two runs share. Its neighbours depend on which other units are
in the sample, so a bootstrap replicate should find them again among the units it drew
(``ReplicatedKNN``); reusing the full sample's neighbours in every replicate gave intervals 0.7-1.0
of the right width (87-94% coverage). Finding them again costs a pass over every pair per
replicate, so the analysis does it for a few replicates and runs only, to measure how much more
the replicates vary than with the full sample's neighbours (whose replicates are block sums,
``ReplicatedKNN.block_sums``), and scales the latter's deviations by that ratio
(``block_statistics.BlockStatistics.knn_spread``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from homogenization.analysis.jobs import JobSplit
from homogenization.analysis.metrics.gram_tiles import fill_gram, widths_of
from homogenization.core.disk_space import reserve, room_for

GRAM_BYTES_PER_READ = 2**26   # BlockCKA.cross reads G in pieces of about this size


def centred(representations, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Each column minus its mean, as a ``dtype`` tensor [N, H]."""
    values = torch.as_tensor(np.asarray(representations), dtype=dtype)
    return values - values.mean(dim=0, keepdim=True)


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of two representations of the same N units (rows)."""
    xc, yc = centred(x).double(), centred(y).double()
    cross = torch.linalg.matrix_norm(yc.T @ xc) ** 2
    return float(cross / (torch.linalg.matrix_norm(xc.T @ xc) * torch.linalg.matrix_norm(yc.T @ yc)))


def gram_on_disk(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """A float64 memmap of ``shape`` at ``path``, its space reserved on the disk now: a full disk is
    one line before any work, not a SIGBUS when a page of the sparse file is written later."""
    with room_for(path, f"CKA's working array ({np.prod(shape) * 8 / 2**30:.1f} GB)",
                  "Set analysis.work_dir to a folder on a larger disk (or free space there)."):
        gram = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=shape)
        reserve(path, gram.offset + gram.nbytes)
    return gram


class BlockCKA:
    """Per-block cross-covariance statistics of all runs, for CKA and its block bootstrap.

    ``representations``: one [N, H_r] array per run (rows = units, same order for every run; a
    sequence that reads them on demand, ``gram_tiles.RunRepresentations``, keeps one tile's runs in
    memory at a time), ``blocks``: int [N] block of each row. Holds G [R, R, M, M] (see the module
    docstring; in ``gram_file``, a memmap, when given: the analysis's largest array stays on disk)
    and the row norms needed by debiased CKA. ``device`` and ``split``: where G's products run
    (``gram_tiles``).
    """

    def __init__(self, representations: Sequence[np.ndarray], blocks: np.ndarray, n_blocks: int,
                 gram_file: Path | None = None, device: str = "cpu", split: JobSplit | None = None):
        runs = len(representations)
        self.n = len(blocks)
        self.block_sizes = np.bincount(blocks, minlength=n_blocks).astype(np.float64)
        shape = (runs, runs, n_blocks, n_blocks)
        self.gram = np.zeros(shape) if gram_file is None else gram_on_disk(Path(gram_file), shape)
        # The tiles also give each run's row norms |x_i|^2 (no other pass over the runs), for
        # debiased CKA's per-block sums under block weights: sum |x_i|^2 [R, M] and
        # sum |x_i|^2 |y_i|^2 [R, R, M].
        self.row_norms = row_norms = np.zeros((runs, self.n))
        fill_gram(representations, widths_of(representations), blocks, n_blocks, self.gram, row_norms, device,
                  split or JobSplit())
        self.block_norms = np.stack([np.bincount(blocks, weights=norms, minlength=n_blocks)
                                     for norms in row_norms])
        self.block_norm_products = np.zeros((runs, runs, n_blocks))
        for block in range(n_blocks):
            part = row_norms[:, blocks == block]
            self.block_norm_products[:, :, block] = part @ part.T

    def cross(self, block_weights: np.ndarray | None = None) -> np.ndarray:
        """||X_b^T W X_a||_F^2 for all pairs: [R, R], or [B, R, R] for weights [B, M]. G is read
        a few runs at a time (it may be a file)."""
        if block_weights is None:
            return self.cross(np.ones((1, self.gram.shape[2])))[0]
        runs, _, blocks, _ = self.gram.shape
        out = np.empty((len(block_weights), runs, runs))
        step = max(1, GRAM_BYTES_PER_READ // (8 * runs * blocks * blocks))
        for start in range(0, runs, step):
            flat = np.asarray(self.gram[start:start + step]).reshape(-1, blocks, blocks)       # [r*R, M, M]
            for first in range(0, len(block_weights), 64):          # chunks keep memory to ~100 MB
                weights = block_weights[first:first + 64].T         # [M, b]
                found = ((flat @ weights) * weights[None]).sum(axis=1).T
                # A block drawn w times pairs each of its units with its own copies: count its
                # internal pairs w times, not w^2, or duplicated units inflate CKA.
                found -= (weights.T**2 - weights.T) @ np.diagonal(flat, axis1=1, axis2=2).T
                out[first:first + 64, start:start + step] = found.reshape(len(weights.T), -1, runs)
        return out

    def cka(self, block_weights: np.ndarray | None = None) -> np.ndarray:
        cross = self.cross(block_weights)
        self_norms = np.sqrt(np.diagonal(cross, axis1=-2, axis2=-1))
        with np.errstate(invalid="ignore", divide="ignore"):
            return cross / (self_norms[..., :, None] * self_norms[..., None, :])

    def debiased_cka(self, block_weights: np.ndarray | None = None) -> np.ndarray:
        """CKA with HSIC's unbiased estimator: [R, R], or [B, R, R] under block weights (a block
        drawn w times counts w times in every sum, as in ``cross``)."""
        weights = np.ones((1, len(self.block_sizes))) if block_weights is None else block_weights
        cross = self.cross(weights)                                               # [B, R, R]
        n = weights @ self.block_sizes                                            # [B]
        sums = weights @ self.block_norms.T                                       # [B, R]
        both = np.einsum("abm,km->kab", self.block_norm_products, weights)      # [B, R, R]
        n = n[:, None, None]
        ones = sums[:, :, None] * sums[:, None, :]
        hsic = (cross - both + ones / ((n - 1) * (n - 2)) - 2 * both / (n - 2)) / (n * (n - 3))
        scale = np.sqrt(np.clip(np.diagonal(hsic, axis1=-2, axis2=-1), 0, None))
        with np.errstate(invalid="ignore", divide="ignore"):
            result = hsic / (scale[..., :, None] * scale[..., None, :])
        return result[0] if block_weights is None else result


def nearest_neighbours(representations: np.ndarray, k: int) -> torch.Tensor:
    """Indices [N, k] of each row's k nearest rows by cosine similarity, itself excluded."""
    x = torch.nn.functional.normalize(torch.as_tensor(np.asarray(representations, np.float32)), dim=1)
    similarity = x @ x.T
    similarity.fill_diagonal_(-float("inf"))
    return similarity.topk(k, dim=1).indices


def mutual_knn(neighbours: list[torch.Tensor]) -> np.ndarray:
    """Per-unit shared-neighbour fraction for every pair: float [R, R, N] (diagonal = 1)."""
    runs = len(neighbours)
    n, k = neighbours[0].shape
    overlap = np.ones((runs, runs, n))
    for a in range(runs):
        for b in range(a + 1, runs):
            shared = (neighbours[a][:, :, None] == neighbours[b][:, None, :]).sum(dim=(1, 2))
            overlap[a, b] = overlap[b, a] = shared.double().numpy() / k
    return overlap


# ReplicatedKNN counts the neighbour groups of this many units in one product: at most 500, and
# fewer for many runs, so that its [groups, runs] matrix stays near 2^25 entries.
KNN_PRODUCT_ENTRIES = 2**25
ABSENT = torch.iinfo(torch.int32).max   # ReplicatedKNN: no neighbour in this slot


class ReplicatedKNN:
    """Mutual k-NN of every pair of runs, its neighbours found within each bootstrap replicate.

    A replicate draws blocks of units with multiplicities; a unit's k nearest neighbours are then
    the k nearest among the units drawn (its own copies excluded), and the statistic is the mean
    over drawn units, each counted as often as drawn. Each run's ``spare`` x k nearest candidates
    are found once on the full sample; a replicate keeps the first k of them that were drawn (a
    replicate draws about 63% of the blocks; were the 40 candidates of k = 10 in independent
    blocks, fewer than 10 would be drawn with a probability of about 1e-7; a unit short of k
    drawn candidates counts the shared ones of those it has, out of k)."""

    def __init__(self, representations: list[np.ndarray], blocks: np.ndarray, k: int, spare: int = 4):
        self.k = k
        self.candidates = torch.stack([nearest_neighbours(values, min(len(blocks) - 1, spare * k)).int()
                                       for values in representations])                  # [R, n, C]
        self.blocks = torch.as_tensor(np.asarray(blocks))
        self.candidate_blocks = self.blocks.short()[self.candidates] if len(np.unique(blocks)) < 2**15 \
            else self.blocks[self.candidates]                                           # [R, n, C]

    def overlap(self, block_weights: np.ndarray, runs: np.ndarray | None = None) -> np.ndarray:
        """Mean shared-neighbour fraction for every pair of runs: [B, R, R] for weights [B, M]
        (of the ``runs`` given, by index, only: [B, r, r])."""
        chosen = slice(None) if runs is None else torch.as_tensor(runs)
        return np.stack([self._one(torch.as_tensor(weights, dtype=torch.float64), chosen)
                         for weights in np.atleast_2d(block_weights)])

    def _first_k(self, drawn_blocks: torch.Tensor, runs: slice | torch.Tensor = slice(None)) -> torch.Tensor:
        """Each unit's first k candidates that are in a drawn block (bool [M]): [r, n, k] for the
        ``runs`` chosen, the id ``ABSENT`` where fewer than k were drawn."""
        candidates = self.candidates[runs]
        if bool(drawn_blocks.all()):
            return candidates[:, :, :self.k]
        drawn = drawn_blocks[self.candidate_blocks[runs].long()]                         # [r, n, C]
        rank = drawn.cumsum(dim=2) - 1                          # among the drawn candidates
        slot = torch.where(drawn & (rank < self.k), rank, self.k)   # slot k: not chosen, dropped
        absent = torch.full((*candidates.shape[:2], self.k + 1), ABSENT, dtype=candidates.dtype)
        return absent.scatter_(2, slot, candidates)[:, :, :self.k]

    def _shared(self, first_k: torch.Tensor, unit_weights: torch.Tensor) -> torch.Tensor:
        """sum over units u of unit_weights[u] x the neighbours every pair of runs shares at u:
        [R, R] float64 (diagonal: k per unit). ``first_k`` [R, u, k] holds the units' neighbours.

        Per unit, every run's neighbours in one sorted row: a neighbour several runs share is a
        run of equal ids. With Y[g, r] = 1 when run r has neighbour group g (one group per unit
        and id), the shared counts of all pairs are Y^T diag(weights) Y."""
        runs = first_k.shape[0]
        labels = torch.arange(runs).repeat_interleave(self.k)
        ids = first_k.permute(1, 0, 2).reshape(-1, runs * self.k)
        ids, order = ids.sort(dim=1)
        members = labels[order]                                                           # [u, L]
        new = torch.ones_like(ids, dtype=torch.bool)
        new[:, 1:] = ids[:, 1:] != ids[:, :-1]
        group = new.flatten().cumsum(0) - 1                                              # [u * L]
        keep = (ids != ABSENT).flatten()
        y = torch.zeros(int(group[-1]) + 1, runs)
        y[group[keep], members.flatten()[keep]] = 1.0
        unit_of_group = torch.arange(len(ids)).repeat_interleave(ids.shape[1])[new.flatten()]
        return (y.T @ (y * unit_weights.float()[unit_of_group][:, None])).double()

    def _one(self, weights: torch.Tensor, runs: slice | torch.Tensor) -> np.ndarray:
        counts = weights[self.blocks]                                                    # [n]
        first_k = self._first_k(weights > 0, runs)
        runs = first_k.shape[0]
        total = torch.zeros(runs, runs, dtype=torch.float64)
        step = self.units_per_product(runs)
        for start in range(0, len(counts), step):
            chunk = slice(start, start + step)
            total += self._shared(first_k[:, chunk], counts[chunk])
        shared = total - torch.diag(torch.diagonal(total))
        overlap = (shared / (self.k * counts.sum())).numpy()
        np.fill_diagonal(overlap, 1.0)
        return overlap

    def units_per_product(self, runs: int) -> int:
        return int(max(1, min(500, KNN_PRODUCT_ENTRIES // (runs * runs * self.k))))

    def block_sums(self, n_blocks: int) -> np.ndarray:
        """Shared neighbours of every pair summed over the units of each block, with the full
        sample's neighbours: [R, R, M] (diagonal: k per unit)."""
        first_k = self._first_k(torch.ones(n_blocks, dtype=torch.bool))
        runs = first_k.shape[0]
        sums = np.zeros((runs, runs, n_blocks))
        for block in range(n_blocks):
            members = torch.nonzero(self.blocks == block).flatten()
            step = self.units_per_product(runs)
            for start in range(0, len(members), step):
                chunk = members[start:start + step]
                sums[:, :, block] += self._shared(first_k[:, chunk], torch.ones(len(chunk))).numpy()
        return sums
