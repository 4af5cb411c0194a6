"""Linear CKA's per-block Gram for every pair of runs, tile by tile: in this process, or split into
jobs (local processes or a SLURM job array, through submitit) and merged.

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

from homogenization.core.errors import UserError
from homogenization.core.run_record import read_representations

log = logging.getLogger(__name__)

TILE_BYTES = 2**28  # a tile's per-block cross-covariances (float32) stay below this
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


@dataclass(frozen=True)
class JobSplit:
    """How the Gram's tiles are computed: ``jobs`` = 1 in this process; more: that many submitit
    jobs on ``launcher`` ('local' processes or a 'slurm' job array) with their files in
    ``folder`` (shared with the jobs' machines)."""

    jobs: int = 1
    launcher: str = "local"
    folder: Path | None = None
    slurm: dict | None = None  # submitit's slurm parameters: partition, time (min), mem_gb, cpus


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
    order = np.argsort(blocks, kind="stable")
    sizes = np.bincount(blocks, minlength=n_blocks)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    slot = np.arange(len(blocks)) - np.repeat(starts, sizes)
    grid = torch.zeros(n_blocks, max(int(sizes.max()), 1), x.shape[1], device=device)
    grid[torch.as_tensor(blocks[order], device=device), torch.as_tensor(slot, device=device)] = x[order]
    return grid


def in_sample_space(n_units: int, n_blocks: int, rows_per_block: int, widths: list[int]) -> bool:
    """Whether G is cheaper from the units' kernels K = X X^T (few units, wide representations)
    than from the per-block cross-covariances (many units): their costs for all pairs, the
    feature-space products counted at 4x their efficiency (large matmuls)."""
    runs = len(widths)
    pairs = runs * (runs + 1) // 2
    feature_cost = pairs * (n_units + n_blocks**2) * float(np.mean(widths)) ** 2
    sample_cost = (n_blocks * rows_per_block) ** 2 * (sum(widths) + pairs)
    return 4 * sample_cost < feature_cost


def chunks_of_runs(runs: int, bytes_per_pair: float, jobs: int = 1) -> list[range]:
    """Runs dealt into chunks whose tiles keep about TILE_BYTES of products at once, and into
    enough of them that there is a tile for each of ``jobs`` jobs; chunks are whole multiples of
    BATCH_RUNS, so that every tiling batches the same pairs together (``gram_tile``)."""
    pairs_of_chunks = min(jobs, runs * (runs + 1) // 2)
    chunks_for_jobs = next(c for c in range(1, runs + 2) if c * (c + 1) // 2 >= pairs_of_chunks)
    per_chunk = int(max(1, min(-(-runs // chunks_for_jobs), TILE_BYTES // max(bytes_per_pair, 1))))
    per_chunk = -(-per_chunk // BATCH_RUNS) * BATCH_RUNS
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
) -> np.ndarray:
    """G for the pairs (a in ``first``, b in ``second``): [len(first), len(second), M, M] float64.
    Each run of the tile is read once. ``device``: auto | cpu | cuda, resolved
    where the tile runs (a job's machine may have a GPU the analysis's has not)."""
    device = resolve_device(device)
    if n_blocks == 1 and not sample_space:
        return one_block_tile(representations, first, second, device)
    grids = {
        index: centred_grid(representations[index], blocks, n_blocks, device)
        for index in dict.fromkeys([*first, *second])
    }
    if sample_space:
        return sample_space_tile(grids, first, second, n_blocks)
    # Pair by pair: the per-block cross-covariances [M, H, G] stay in cache (batching pairs made
    # them 8x larger and the products 1.5x slower).
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
    representations: Sequence[np.ndarray], first: range, second: range, device: str
) -> np.ndarray:
    """||X_b^T X_a||_F^2 of centred representations for the pairs of a tile (one block: no
    intervals): [len(first), len(second), 1, 1] float64, pair by pair (as fast as a plain
    feature-space CKA: batching pairs into one product measured slower here). Each run is read
    and centred once."""
    centred = {index: centred_grid(representations[index], None, 1, device)[0] for index in second}
    out = np.zeros((len(first), len(second), 1, 1))
    for row, a in enumerate(first):
        x = centred[a] if a in centred else centred_grid(representations[a], None, 1, device)[0]
        for column, b in enumerate(second):
            if b >= a:  # (b, a) is (a, b) transposed: computed once
                out[row, column] = torch.linalg.vector_norm(centred[b].T @ x, dtype=torch.float64).item() ** 2
    return out


def _compute_tiles(
    representations: Sequence[np.ndarray],
    assigned: list[tuple[range, range]],
    blocks: np.ndarray,
    n_blocks: int,
    device: str,
    sample_space: bool,
) -> list[np.ndarray]:
    """A job's work: the Gram of each of its tiles."""
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
    device: str = "cpu",
    split: JobSplit | None = None,
) -> None:
    """Write G for every pair of runs (``widths``: each one's representation width) into ``gram``
    [R, R, M, M] (an array or a memmap)."""
    rows_per_block = int(np.bincount(blocks, minlength=n_blocks).max())
    sample_space = in_sample_space(len(blocks), n_blocks, rows_per_block, widths)
    per_pair = 4 * (n_blocks * rows_per_block) ** 2 if sample_space else 4 * n_blocks * max(widths) ** 2
    split = split or JobSplit()
    all_tiles = tiles(chunks_of_runs(len(widths), per_pair, split.jobs))
    arguments = (blocks, n_blocks, device, sample_space)
    started = time.monotonic()
    if split.jobs <= 1:
        for number, (first, second) in enumerate(all_tiles, start=1):
            _place(gram, first, second, gram_tile(representations, first, second, *arguments))
            if number % 20 == 0:
                log.info(
                    "CKA Gram: %d of %d tiles [%.0f s]", number, len(all_tiles), time.monotonic() - started
                )
        return
    shares = [all_tiles[job :: split.jobs] for job in range(min(split.jobs, len(all_tiles)))]
    for share, results in zip(shares, run_jobs(shares, representations, arguments, split)):
        for (first, second), values in zip(share, results):
            _place(gram, first, second, values)


def _place(gram: np.ndarray, first: range, second: range, values: np.ndarray) -> None:
    """A tile's G into ``gram``, and its transpose for the pairs (b, a)."""
    if first == second:  # a diagonal tile computed the pairs a <= b only
        lower = np.tril_indices(len(first), k=-1)
        values = values.copy()
        values[lower] = values.transpose(1, 0, 3, 2)[lower]
    gram[first.start : first.stop, second.start : second.stop] = values
    if first != second:
        gram[second.start : second.stop, first.start : first.stop] = values.transpose(1, 0, 3, 2)


SHARED_PARAMETERS = ("mem_gb", "cpus_per_task", "gpus_per_node", "nodes", "tasks_per_node")


def slurm_parameters(slurm: dict) -> dict:
    """analysis.slurm as submitit's parameters: ``time`` (minutes, default 60) -> timeout_min,
    mem_gb / cpus_per_task / gpus_per_node as they are, any other key as slurm_<key> (partition,
    account, qos, ...)."""
    found = {
        key if key in SHARED_PARAMETERS else f"slurm_{key}": value
        for key, value in slurm.items()
        if key != "time"
    }
    return {"timeout_min": int(slurm.get("time", 60)), **found}


def run_jobs(
    shares: list[list[tuple[range, range]]],
    representations: Sequence[np.ndarray],
    arguments: tuple,
    split: JobSplit,
) -> list[list[np.ndarray]]:
    """Each share of the tiles as one submitit job (a SLURM job array, or local processes); their
    results in order. A job that fails is one line naming its log."""
    import submitit

    if split.folder is None:
        raise UserError("analysis.jobs > 1 needs a work directory the jobs can write to (analysis.work_dir)")
    folder = Path(split.folder) / "jobs" / "%j"
    if split.launcher == "slurm":
        executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
        executor.update_parameters(**slurm_parameters(split.slurm or {}))
    else:
        executor = submitit.LocalExecutor(folder=folder)
        executor.update_parameters(timeout_min=int((split.slurm or {}).get("time", 60)))
    jobs = executor.map_array(
        _compute_tiles,
        [representations] * len(shares),
        shares,
        *([value] * len(shares) for value in arguments),
    )
    log.info(
        "CKA Gram: %d tiles in %d %s jobs (%s); waiting",
        sum(map(len, shares)),
        len(jobs),
        split.launcher,
        ", ".join(job.job_id for job in jobs),
    )
    wait_for_jobs(jobs, split.launcher)
    results = []
    for job in jobs:
        try:
            results.append(job.result())
        except Exception as error:  # submitit's FailedJobError carries the job's traceback
            cause = job_error(str(error)) or type(error).__name__
            raise UserError(
                f"analysis job {job.job_id} failed: {cause} (its log: {job.paths.stderr}); "
                "fix the cause and run the analysis again"
            ) from None
    return results


def job_error(message: str) -> str:
    """The exception line of a job's traceback in submitit's message ("OSError: ..."), or ''."""
    lines = [line.strip() for line in message.splitlines()]
    traceback_end = [i for i, line in enumerate(lines) if line.startswith("-----")]
    body = lines[: traceback_end[1]] if len(traceback_end) > 1 else lines
    found = [line for line in body if line and not line.startswith(("File ", "^", "Traceback", "-----"))]
    return found[-1] if found else ""


def wait_for_jobs(jobs: list, launcher: str, poll_s: float = 2.0, grace_s: float = 30.0) -> None:
    """Until every job has its result file. On SLURM, a job that left the queue (or ended) without
    one for ``grace_s`` is one line: submitit alone would wait for ever without SLURM accounting."""
    from homogenization.core.slurm_queue import ENDED, queue_states

    ended_at: dict[str, float] = {}
    while not all(job.paths.result_pickle.exists() for job in jobs):
        states = queue_states() if launcher == "slurm" else None
        if states is not None:  # (None: squeue could not be asked this time)
            for job in jobs:
                if job.paths.result_pickle.exists():
                    continue
                state = states.get(job.job_id)
                if state is None or state in ENDED:  # its result may take grace_s to appear
                    first = ended_at.setdefault(job.job_id, time.monotonic())
                    if time.monotonic() - first > grace_s:
                        raise UserError(
                            f"analysis job {job.job_id} ended {state or 'outside the queue'} "
                            f"without a result (its log: {job.paths.stdout}); run the analysis again"
                        )
                else:
                    ended_at.pop(job.job_id, None)
        elif launcher == "local" and any(job.done() and not job.paths.result_pickle.exists() for job in jobs):
            return  # a local process died: its result() says how
        time.sleep(poll_s)
