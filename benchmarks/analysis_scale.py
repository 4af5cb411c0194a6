"""Wall time and peak memory of the analysis as studies grow, with the growth in R fitted.

Writes synthetic studies (``benchmarks/analysis.py``: two groups, shared hard units, correlated
representations) of R runs x N units x H dims once under --data, then times each report in a
fresh process (its peak RSS its own):

    python benchmarks/analysis_scale.py                                # the README's table
    python benchmarks/analysis_scale.py --runs 25,50 --dims 768 --reports default
    python benchmarks/analysis_scale.py --runs 25,50 --dims 4096 --units 1000 --reports all  # wide
    python benchmarks/analysis_scale.py --runs 500 --dims 768 --device cuda    # on a GPU machine
    python benchmarks/analysis_scale.py --cka-speed     # linear CKA per pair against plain torch
    python benchmarks/analysis_scale.py --runs 300 --units 12000 --reports trend   # trend= over 5 levels

Reports: ``default`` (every headline interval, B = 1,000), ``outcomes`` (imported predictions: no
representations), ``all`` (every optional measure too: procrustes, svcca, pwcca, rsa, jsd,
disagreement), ``trend`` (outcomes only, the runs over 5 levels of a numeric key, ``trend=``).
A combination is skipped when --max-gb says its data would not fit on disk.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REPORTS = {
    "default": [],
    "outcomes": ["--outcomes-only"],
    "trend": ["--outcomes-only", "--trend-levels=5"],    # a trend over 5 levels of a numeric key
    "all": ["--measures", "procrustes,svcca,pwcca,rsa,jsd,disagreement"],
}


def measure(args, runs: int, units: int, dims: int, report: str) -> tuple[float, float, float]:
    """(wall s, CPU s, peak GB) of one report, in a fresh process."""
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "analysis.py"),
        f"--runs={runs}",
        f"--units={units}",
        f"--dims={dims}",
        f"--data={args.data}",
        f"--device={args.device}",
        *REPORTS[report],
    ]
    output = (
        subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    )
    cpu = float(output.split("CPU ")[1].split(" s")[0])
    wall, peak = output.rsplit(": ", 1)[1].split(" s, peak memory ")
    return float(wall), cpu, float(peak.split()[0])


def cka_speed(runs: int = 12, units: int = 10_000, dims: int = 256, repeats: int = 5) -> None:
    """CPU time per pair of the analysis's linear CKA without intervals (one block: the plain
    feature-space products, float32, batched over pairs) against the plain float32 feature-space
    CKA in torch, ||Y^T X||^2 / (||X^T X|| ||Y^T Y||), pair by pair; one process, same data, the
    two interleaved ``repeats`` times and the fastest of each kept (a shared machine's noise only
    ever adds time)."""
    import time

    import torch

    from homogenization.analysis.metrics.similarity import BlockCKA

    rng = np.random.default_rng(0)
    shared = rng.normal(size=(units, dims)).astype(np.float32)
    values = [shared + rng.normal(size=(units, dims)).astype(np.float32) for _ in range(runs)]
    pairs = runs * (runs - 1) // 2

    def plain_cka() -> np.ndarray:
        centred = [torch.as_tensor(x - x.mean(0)) for x in values]
        norms = [torch.linalg.matrix_norm(x.T @ x) for x in centred]
        found = np.zeros((runs, runs))
        for a in range(runs):
            for b in range(a + 1, runs):
                found[a, b] = float(
                    torch.linalg.matrix_norm(centred[b].T @ centred[a]) ** 2 / (norms[a] * norms[b])
                )
        return found

    def analysis_cka() -> np.ndarray:
        return BlockCKA(values, np.zeros(units, dtype=int), 1).cka()

    times = {plain_cka: [], analysis_cka: []}
    for _ in range(repeats):
        for compute in times:
            started = time.process_time()
            result = compute()
            times[compute].append(time.process_time() - started)
            if compute is plain_cka:
                plain = result
            else:
                ours = result
    plain_time, ours_time = min(times[plain_cka]), min(times[analysis_cka])
    upper = np.triu_indices(runs, k=1)
    print(
        f"linear CKA, {runs} runs x {units} units x {dims} dims ({pairs} pairs), CPU per pair (fastest of "
        f"{repeats}): analysis {1000 * ours_time / pairs:.1f} ms, plain torch float32 "
        f"{1000 * plain_time / pairs:.1f} ms (ratio {ours_time / plain_time:.2f}); largest difference "
        f"{np.abs(ours[upper] - plain[upper]).max():.1e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", default="25,50,100,200")
    parser.add_argument("--dims", default="256,768")
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--reports", default="default,outcomes,all")
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--max-gb", type=float, default=20.0, help="largest study to write, in GB of representations"
    )
    parser.add_argument("--data", type=Path, default=ROOT / "logs" / "bench" / "analysis")
    parser.add_argument("--cka-speed", action="store_true", help="linear CKA per pair against plain torch")
    args = parser.parse_args()
    if args.cka_speed:
        return cka_speed()
    print("| runs | units | dims | report | wall | CPU | peak memory |")
    print("|---|---|---|---|---|---|---|")
    found: dict[tuple[int, str], list[tuple[int, float, float]]] = {}
    for report in args.reports.split(","):
        for dims in map(int, args.dims.split(",")):
            if report in ("outcomes", "trend") and dims != int(args.dims.split(",")[0]):
                continue  # no representations: the width does not matter
            for runs in map(int, args.runs.split(",")):
                size_gb = runs * args.units * dims * 4 / 1e9 * (report not in ("outcomes", "trend"))
                if size_gb > args.max_gb:
                    print(
                        f"| {runs} | {args.units} | {dims} | {report} | skipped: {size_gb:.0f} GB of data |||"
                    )
                    continue
                wall, cpu, peak = measure(args, runs, args.units, dims, report)
                found.setdefault((dims, report), []).append((runs, wall, peak))
                print(
                    f"| {runs} | {args.units:,} | {'-' if report in ('outcomes', 'trend') else dims} | "
                    f"{report} | "
                    f"{wall:.0f} s | {cpu:.0f} s | {peak:.2f} GB |",
                    flush=True,
                )
    for (dims, report), rows in found.items():
        if len(rows) >= 2:
            runs, wall, peak = map(np.log, np.array(rows).T)
            print(
                f"{report}, {dims} dims: wall ~ R^{np.polyfit(runs, wall, 1)[0]:.2f}, "
                f"peak memory ~ R^{np.polyfit(runs, peak, 1)[0]:.2f}"
            )


if __name__ == "__main__":
    main()
