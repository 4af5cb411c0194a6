"""Time and peak memory of the homogenization analysis at the issue's target size, run by hand:

    python benchmarks/analysis.py                     # 50 runs x 10,000 units x 256 dims, B = 1,000
    python benchmarks/analysis.py --runs 20 --units 2000
    python benchmarks/analysis.py --grid              # R in {10, 50, 100} x N in {1k, 10k}, fitted
    python benchmarks/analysis.py --runs 20 --layers 5   # layer by layer: 20 runs x 5 layers
    python benchmarks/analysis.py --runs 20 --measures procrustes,svcca,pwcca,rsa,jsd,disagreement
    python benchmarks/analysis.py --runs 100 --outcomes-only    # no representations (imported predictions)
    python benchmarks/analysis.py --runs 300 --units 12000 --outcomes-only --trend-levels 5   # a trend

Synthetic run records (two groups, shared hard units, correlated representations) are written
once to --data; the analysis is then timed in a fresh process, so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from homogenization.analysis.make_report import make_report  # noqa: E402
from homogenization.analysis.runs.synthetic_runs import write_run  # noqa: E402
from homogenization.analysis.study import Settings  # noqa: E402


def write_study(root: Path, runs: int, units: int, dims: int, layers: int = 0,
                outcomes_only: bool = False, trend_levels: int = 0) -> None:
    """``trend_levels``: the runs spread over that many levels of data.train_fraction (0.2, 0.4, ...),
    the numeric key the analysis's trend reads."""
    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, units)
    hard = rng.random(units) < 0.1
    shared = rng.normal(size=(units, dims)).astype(np.float32)
    for run in range(runs):
        group = "ab"[run % 2]
        pred = np.where(hard | (rng.random(units) < 0.08), 1 - label, label)
        features = shared + rng.normal(size=(units, dims)).astype(np.float32)
        depth = [(k / max(layers - 1, 1)) * shared + rng.normal(size=(units, dims)).astype(np.float32)
                 for k in range(layers)]
        fraction = (run % trend_levels + 1) / trend_levels if trend_levels else None
        level = {"data": {"train_fraction": fraction}} if trend_levels else None
        written = write_run(root / f"{run:03d}-{group}", pred, label, features, model=group, seed=run,
                            layers=depth or None, config=level)
        if outcomes_only:      # recorded as imported predictions are: no representations
            (written / "representations" / "test.npy").unlink()
            record = json.loads((written / "run.json").read_text())
            record["test"] = {**(record.get("test") or {}), "representations": False}
            (written / "run.json").write_text(json.dumps(record))


def study_dir(args) -> Path:
    layers = f"x{args.layers}layers" if args.layers else ""
    outcomes = "-outcomes" if args.outcomes_only else ""
    trend = f"-trend{args.trend_levels}" if args.trend_levels else ""
    return args.data / f"runs-{args.runs}x{args.units}x{args.dims}{layers}{outcomes}{trend}"


def measure(args, runs: int, units: int) -> tuple[float, float]:
    """(seconds, peak GB) of one analysis, in a fresh process."""
    runs_dir = args.data / f"runs-{runs}x{units}x{args.dims}"
    if not runs_dir.exists():
        write_study(runs_dir, runs, units, args.dims)
    output = subprocess.run([sys.executable, __file__, "--measure", f"--runs={runs}", f"--units={units}",
                             f"--dims={args.dims}", f"--bootstrap={args.bootstrap}", f"--data={args.data}"],
                            check=True, capture_output=True, text=True).stdout
    seconds, peak = output.rsplit(": ", 1)[1].split(" s, peak memory ")
    return float(seconds), float(peak.split()[0])


def scaling_grid(args) -> None:
    rows = []
    for runs in (10, 50, 100):
        for units in (1_000, 10_000):
            seconds, peak = measure(args, runs, units)
            rows.append((runs, units, seconds, peak))
            print(f"| {runs} | {units} | {seconds:.1f} s | {peak:.2f} GB |", flush=True)
    design = np.array([[1, np.log(r), np.log(n)] for r, n, _, _ in rows])
    slopes = np.linalg.lstsq(design, np.log([t for *_, t, _ in rows]), rcond=None)[0]
    print(f"time ~ R^{slopes[1]:.2f} N^{slopes[2]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--layers", type=int, default=0, help="layers per run (layer-wise analysis)")
    parser.add_argument("--measures", default="jsd,disagreement", help="analysis.measures, comma-separated")
    parser.add_argument("--data", type=Path, default=ROOT / "logs" / "bench" / "analysis")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--grid", action="store_true", help="the scaling grid, with a power-law fit")
    parser.add_argument("--outcomes-only", action="store_true",
                        help="runs without representations (imported predictions): outcome metrics only")
    parser.add_argument("--knn-bootstrap", type=int, default=50)
    parser.add_argument("--device", default="auto", help="analysis.device: auto | cpu | cuda")
    parser.add_argument("--trend-levels", type=int, default=0,
                        help="spread the runs over this many levels of a numeric key and analyse its trend")
    args = parser.parse_args()
    if args.grid:
        return scaling_grid(args)
    runs_dir = study_dir(args)
    if args.measure:
        started = time.perf_counter()
        measures = args.measures.split(",") if args.measures else []
        make_report([str(runs_dir)], args.data / "report", ["model"],
                    Settings(bootstrap=args.bootstrap, knn_bootstrap=args.knn_bootstrap, measures=measures,
                             device=args.device,
                             trend="data.train_fraction" if args.trend_levels else None))
        usage = resource.getrusage(resource.RUSAGE_SELF)
        peak_gb = usage.ru_maxrss / 1024**2
        print(f"{args.runs} runs x {args.units} units x {args.dims} dims x {args.layers or 'no'} layers"
              f"{' (outcomes only)' if args.outcomes_only else ''}"
              f"{f', trend over {args.trend_levels} levels' if args.trend_levels else ''}"
              f", B = {args.bootstrap}, k-NN replicates "
              f"{args.knn_bootstrap}, measures {args.measures}: CPU {usage.ru_utime + usage.ru_stime:.1f} s: "
              f"{time.perf_counter() - started:.1f} s, peak memory {peak_gb:.2f} GB")
        return
    if not runs_dir.exists():
        write_study(runs_dir, args.runs, args.units, args.dims, args.layers, args.outcomes_only,
                    args.trend_levels)
    subprocess.run([sys.executable, __file__, "--measure", *sys.argv[1:]], check=True)


if __name__ == "__main__":
    main()
