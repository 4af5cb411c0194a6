"""Linear CKA's per-block Gram for every pair of runs, tile by tile: in this process, or split into
jobs (local processes or a SLURM job array: ``analysis/jobs.py``) and merged.

The Gram G[a, b, m, m'] = <X_a,m^T X_b,m, X_a,m'^T X_b,m'>_F (``similarity.BlockCKA``) is the
analysis's costliest work (N H^2 per pair) and, at R^2 M^2, its largest array. Runs are dealt into
chunks; a *tile* is a pair of chunks (first <= second) and needs the representations of its runs
only, so a tile's memory does not grow with the study. The Gram is written to a file (a numpy
memmap) when the analysis has a work directory, and read back in chunks of pairs.

Products are float32 torch matmuls on ``device`` (the same code on CPU and GPU) accumulated into
float64; tested to agree with a float64 computation to 1e-5 relative.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from homogenization.analysis.jobs import JobSplit, run_jobs
from homogenization.core.run_record import read_representations, representation_file

log = logging.getLogger(__name__)

# A tile's per-block cross-covariances (float32), or a chunk's prepared runs (measures.py), stay
# below this.
TILE_BYTES = 2**28
# Pairs (a, b) whose b are in the same group of this many runs are one batched product, in every
# tiling: the Gram, and the report, are bitwise the same in one process and split into jobs.
BATCH_RUNS = 8


@dataclass(frozen=True)
class RunRepresentations(Sequence):
    """Runs' test representations read from their directories on demand, as float32 [N, H] (a
    picklable sequence, so a job on another machine reads them itself)."""

    paths: tuple[str, ...]
    split: str = "test"

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray:
        return read_representations(Path(self.paths[index]), self.split).astype(np.float32)

    def widths(self) -> list[int]:
        """Each run's width from its file's header (the data are not read)."""
        return [
            int(np.load(representation_file(Path(path), self.split), mmap_mode="r").shape[1])
            for path in self.paths
        ]


def widths_of(representations: Sequence[np.ndarray]) -> list[int]:
    """Each run's representation width, without reading the representations themselves."""
    if isinstance(representations, RunRepresentations):
        return representations.widths()
    return [int(np.shape(values)[1]) for values in representations]




def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when a GPU is there, else 'cpu'."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def centred_grid(values: np.ndarray, blocks: np.ndarray, n_blocks: int, device: str) -> torch.Tensor:
    """Centred representations dealt into their blocks: [M, rows per block, H], zero padded."""
    x = torch.as_tensor(values, dtype=torch.float32, device=device)
    x = x - x.mean(dim=0, keepdim=True)
    if n_blocks == 1:
        return x[None]
    order, slot = grid_positions(blocks, n_blocks)
    rows = max(int(np.bincount(blocks, minlength=n_blocks).max()), 1)
    grid = torch.zeros(n_blocks, rows, x.shape[1], device=device)
    grid[torch.as_tensor(blocks[order], device=device), torch.as_tensor(slot, device=device)] = x[order]
    return grid


def grid_positions(blocks: np.ndarray, n_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """(order, slot): unit ``order[k]`` sits in row ``slot[k]`` of its block in ``centred_grid``."""
    order = np.argsort(blocks, kind="stable")
    sizes = np.bincount(blocks, minlength=n_blocks)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return order, np.arange(len(blocks)) - np.repeat(starts, sizes)


def unit_norms(grid: torch.Tensor, blocks: np.ndarray, n_blocks: int) -> np.ndarray:
    """|x_i|^2 of each unit's centred representation, in unit order, from its grid: float64 [N]
    (debiased CKA's row norms, computed where the grid is, not in another pass over the run)."""
    norms = torch.linalg.vector_norm(grid, dim=2).double().pow(2).cpu().numpy()  # [M, rows]
    if n_blocks == 1:
        return norms[0]
    order, slot = grid_positions(blocks, n_blocks)
    found = np.empty(len(blocks))
    found[order] = norms[blocks[order], slot]
    return found


def tile_plan(
    n_units: int, n_blocks: int, rows_per_block: int, widths: list[int], jobs: int = 1
) -> tuple[bool, list[tuple[range, range]]]:
    """(sample_space, tiles): whether G is cheaper from the units' kernels K = X X^T (few units,
    wide representations) than from the per-block cross-covariances (many units), and the tiles
    of that way. The costs are for all pairs, counting the kernels every tile computes again for
    its runs (a run is in several tiles), the feature-space products at 4x their efficiency
    (large matmuls). A tile holds its runs' grids and, in sample space, one block row of their
    kernels and its stacked copy (8 bytes x rows x M rows per run)."""
    runs, width = len(widths), float(np.mean(widths))
    pairs = runs * (runs + 1) // 2
    feature_tiles = tiles(chunks_of_runs(runs, 4 * n_blocks * max(widths) ** 2, jobs))
    sample_tiles = tiles(chunks_of_runs(runs, 8 * rows_per_block * n_blocks * rows_per_block, jobs))
    kernels = sum(len(set(first) | set(second)) for first, second in sample_tiles)
    feature_cost = pairs * (n_units + n_blocks**2) * width**2
    sample_cost = (n_blocks * rows_per_block) ** 2 * (kernels * width + pairs)
    return (True, sample_tiles) if 4 * sample_cost < feature_cost else (False, feature_tiles)


def chunks_of_runs(
    runs: int, bytes_per_pair: float, jobs: int = 1, multiple: int | None = None
) -> list[range]:
    """Runs dealt into chunks whose tiles keep about TILE_BYTES of products (``bytes_per_pair``
    per pair or per run) at once, and into
    enough of them that there is a tile for each of ``jobs`` jobs; chunks are whole multiples of
    ``multiple`` runs (by default BATCH_RUNS, for CKA's Gram: every tiling batches the same pairs
    together, ``gram_tile``)."""
    pairs_of_chunks = min(jobs, runs * (runs + 1) // 2)
    chunks_for_jobs = next(c for c in range(1, runs + 2) if c * (c + 1) // 2 >= pairs_of_chunks)
    per_chunk = int(max(1, min(-(-runs // chunks_for_jobs), TILE_BYTES // max(bytes_per_pair, 1))))
    multiple = BATCH_RUNS if multiple is None else multiple
    per_chunk = -(-per_chunk // multiple) * multiple
    return [range(start, min(start + per_chunk, runs)) for start in range(0, runs, per_chunk)]


def tiles(chunks: list[range]) -> list[tuple[range, range]]:
    return [(first, second) for i, first in enumerate(chunks) for second in chunks[i:]]


def gram_tile(
    representations: Sequence[np.ndarray],
    first: range,
    second: range,
    blocks: np.ndarray,
    n_blocks: int,
    device: str,
    sample_space: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    """G for the pairs (a in ``first``, b in ``second``): [len(first), len(second), M, M] float64,
    and for a diagonal tile (``first == second``; every run is in exactly one) its runs' row norms
    |x_i|^2 [len(first), N], which debiased CKA needs. Each run of the tile is read once.
    ``device``: auto | cpu | cuda, resolved where the tile runs (a job's machine may have a GPU
    the analysis's has not)."""
    device = resolve_device(device)
    if n_blocks == 1 and not sample_space:  # no intervals: the plain products, pair by pair
        grids = {index: centred_grid(representations[index], blocks, 1, device) for index in second}
        values = one_block_tile(grids, representations, first, second, device)
    else:
        grids = {
            index: centred_grid(representations[index], blocks, n_blocks, device)
            for index in dict.fromkeys([*first, *second])
        }
        tile = sample_space_tile if sample_space else feature_space_tile
        values = tile(grids, first, second, n_blocks)
    norms = (
        np.stack([unit_norms(grids[index], blocks, n_blocks) for index in first]) if first == second else None
    )
    return values, norms


def feature_space_tile(
    grids: dict[int, torch.Tensor], first: range, second: range, n_blocks: int
) -> np.ndarray:
    """G from the per-block cross-covariances X_a,m^T X_b,m [M, H, G], pair by pair (they stay in
    cache; batching pairs made them 8x larger and the products 1.5x slower)."""
    out = np.zeros((len(first), len(second), n_blocks, n_blocks))
    for row, a in enumerate(first):
        for column, b in enumerate(second):
            if b >= a:  # (b, a) is (a, b) transposed: computed once
                per_block = torch.bmm(grids[a].transpose(1, 2), grids[b]).reshape(n_blocks, -1)
                out[row, column] = (per_block @ per_block.T).double().cpu().numpy()
    return out


def sample_space_tile(
    grids: dict[int, torch.Tensor], first: range, second: range, n_blocks: int
) -> np.ndarray:
    """G from the units' kernels (few units, wide representations), one block row m at a time:
    K_a[m] = X_a,m X_a^T [rows, M, rows] and G[a, b, m, :] = the sum of K_a[m] * K_b[m] over the
    units (a run's whole kernel is (M rows)^2: 400 MB at 10,000 units, and a tile holds 16 runs).
    The runs b in batches (same group of BATCH_RUNS), stacked latest first, so that the b >= a of a
    row are a prefix of each batch and a row's products with a batch are one product; every tiling
    batches the same pairs together."""
    out = np.zeros((len(first), len(second), n_blocks, n_blocks))
    batches: dict[int, list[int]] = {}
    for column in reversed(range(len(second))):
        batches.setdefault(second[column] // BATCH_RUNS, []).append(column)
    for m in range(n_blocks):
        kernels = {index: torch.einsum("ih,njh->inj", grid[m], grid) for index, grid in grids.items()}
        side_by_side = {
            key: torch.stack([kernels[second[c]] for c in columns]) for key, columns in batches.items()
        }
        for row, a in enumerate(first):
            for key, columns in batches.items():
                count = sum(second[c] >= a for c in columns)  # (b, a) is (a, b) transposed: computed once
                if count:
                    found = torch.einsum("inj,tinj->tn", kernels[a], side_by_side[key][:count])
                    out[row, columns[:count], m] = found.double().cpu().numpy()
    return out


def one_block_tile(
    grids: dict[int, torch.Tensor],
    representations: Sequence[np.ndarray],
    first: range,
    second: range,
    device: str,
) -> np.ndarray:
    """||X_b^T X_a||_F^2 of centred representations for the pairs of a tile (one block: no
    intervals), pair by pair (as fast as a plain feature-space CKA: batching pairs into one product
    measured slower here). ``grids``: the runs of ``second``, centred; a run of ``first`` only is
    read here, once."""
    out = np.zeros((len(first), len(second), 1, 1))
    for row, a in enumerate(first):
        x = grids[a][0] if a in grids else centred_grid(representations[a], None, 1, device)[0]
        for column, b in enumerate(second):
            if b == a:
                out[row, column] = self_product_norm(x)
            elif b > a:  # (b, a) is (a, b) transposed: computed once
                out[row, column] = squared_norm(grids[b][0].T @ x)
    return out


def squared_norm(product: torch.Tensor) -> float:
    return torch.linalg.vector_norm(product, dtype=torch.float64).item() ** 2


def self_product_norm(x: torch.Tensor) -> float:
    """||X^T X||_F^2 from X^T X's symmetry: with its columns halved, X = [L R], the blocks L^T L,
    R^T R and L^T R (counted twice) take 3/4 of the full product's multiplications (a BLAS syrk
    does the same; torch has none)."""
    half = x.shape[1] // 2
    left, right = x[:, :half], x[:, half:]
    return squared_norm(left.T @ left) + squared_norm(right.T @ right) + 2 * squared_norm(left.T @ right)


def _compute_tiles(
    assigned: list[tuple[range, range]],
    representations: Sequence[np.ndarray],
    blocks: np.ndarray,
    n_blocks: int,
    device: str,
    sample_space: bool,
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """A job's work: the Gram (and, for a diagonal tile, the row norms) of each of its tiles."""
    return [
        gram_tile(representations, first, second, blocks, n_blocks, device, sample_space)
        for first, second in assigned
    ]


def fill_gram(
    representations: Sequence[np.ndarray],
    widths: list[int],
    blocks: np.ndarray,
    n_blocks: int,
    gram: np.ndarray,
    row_norms: np.ndarray,
    device: str = "cpu",
    split: JobSplit | None = None,
) -> None:
    """Write G for every pair of runs (``widths``: each one's representation width) into ``gram``
    [R, R, M, M] (an array or a memmap), and every run's row norms |x_i|^2 into ``row_norms``
    [R, N]."""
    rows_per_block = int(np.bincount(blocks, minlength=n_blocks).max())
    split = split or JobSplit()
    sample_space, all_tiles = tile_plan(len(blocks), n_blocks, rows_per_block, widths, split.jobs)
    arguments = (blocks, n_blocks, device, sample_space)
    started = time.monotonic()
    if split.jobs <= 1:
        for number, (first, second) in enumerate(all_tiles, start=1):
            _place(gram, row_norms, first, second, gram_tile(representations, first, second, *arguments))
            if number % 20 == 0:
                log.info(
                    "CKA Gram: %d of %d tiles [%.0f s]", number, len(all_tiles), time.monotonic() - started
                )
        return
    shares = [all_tiles[job :: split.jobs] for job in range(min(split.jobs, len(all_tiles)))]
    results = run_jobs(_compute_tiles, shares, (representations, *arguments), split, "CKA Gram")
    for share, found_in_share in zip(shares, results):
        for (first, second), found in zip(share, found_in_share):
            _place(gram, row_norms, first, second, found)


def _place(
    gram: np.ndarray,
    row_norms: np.ndarray,
    first: range,
    second: range,
    found: tuple[np.ndarray, np.ndarray | None],
) -> None:
    """A tile's G into ``gram``, and its transpose for the pairs (b, a); a diagonal tile's row
    norms into ``row_norms``."""
    values, norms = found
    if norms is not None:
        row_norms[first.start : first.stop] = norms
    if first == second:  # a diagonal tile computed the pairs a <= b only
        lower = np.tril_indices(len(first), k=-1)
        values = values.copy()
        values[lower] = values.transpose(1, 0, 3, 2)[lower]
    gram[first.start : first.stop, second.start : second.stop] = values
    if first != second:
        gram[second.start : second.stop, first.start : first.stop] = values.transpose(1, 0, 3, 2)
