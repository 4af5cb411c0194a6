"""Coverage of the trend's slope interval (trends.csv) on simulated studies with a known slope.

Each study has 4 levels of a numeric axis and R runs per level; a pair of runs of one level has the
value mu(level) + a_i + a_j + b_item + e (``synthetic_runs.trend_pair_values``), mu growing by
``slope`` per doubling of the level. The regimes differ in where the noise is: in the runs (run_sd),
in the test items (noise_sd), or both, and in the runs per level; the slope is 0 (no trend) or 0.04.
We report how often the 95% interval covers the slope and its mean width against the spread of
the estimated slopes (3.92 standard deviations); ``--write`` puts the rows into the calibration
table the report quotes (``homogenization/analysis/calibration.csv``).

    python benchmarks/trend_coverage.py --studies 300 --write
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import numpy as np
import pandas as pd

from homogenization.analysis.calibration import CALIBRATION_FILE, replace_rows
from homogenization.analysis.design.trends import TaskMetric, trend_analysis
from homogenization.analysis.runs.synthetic_runs import trend_pair_values

LEVELS = np.array([1e5, 2e5, 4e5, 8e5])
REGIMES = [   # (runs per level, run_sd, noise_sd, slope)
    (3, 0.05, 0.6, 0.04), (4, 0.05, 0.6, 0.04), (4, 0.0, 1.0, 0.04), (4, 0.1, 0.2, 0.04),
    (4, 0.05, 0.6, 0.0),
]


def slope_interval(rng: np.random.Generator, runs_per_level: int, run_sd: float, noise_sd: float,
                   slope: float, seed: int, replicates: int) -> tuple[float, float, float]:
    level_of, point, replicated, accuracy, replicated_accuracy = trend_pair_values(
        rng, slope, LEVELS, runs_per_level=runs_per_level, run_sd=run_sd, noise_sd=noise_sd,
        replicates=replicates)
    runs = [SimpleNamespace(name=f"r{i}") for i in range(len(level_of))]
    trend = trend_analysis(runs, "size", LEVELS[level_of], {"error_consistency": point},
                           {"error_consistency": replicated},
                           TaskMetric(accuracy, replicated_accuracy, "accuracy", 0.5),
                           np.zeros((len(runs), 10), bool), replicates, seed)
    row = trend.trends.set_index("metric").loc["error_consistency"]
    return float(row["slope"]), float(row["ci_low"]), float(row["ci_high"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=300)
    parser.add_argument("--replicates", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true", help="write the calibration table")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    started, rows = time.process_time(), []
    for runs_per_level, run_sd, noise_sd, slope in REGIMES:
        found = np.array([slope_interval(rng, runs_per_level, run_sd, noise_sd, slope, study, args.replicates)
                          for study in range(args.studies)])
        estimate, low, high = found.T
        rows.append({"interval": "trend", "levels": len(LEVELS), "spread": float("nan"),
                     "factor": "error_consistency slope",
                     "regime": f"{runs_per_level} runs per level, run sd {run_sd}, item noise {noise_sd}, "
                               f"slope {slope}",
                     "studies": args.studies, "truth": slope, "mean_estimate": float(estimate.mean()),
                     "coverage": float(np.mean((low <= slope) & (slope <= high))),
                     "width_vs_spread": float(np.mean(high - low) / (3.92 * estimate.std())),
                     "median_width_vs_spread": float(np.median(high - low) / (3.92 * estimate.std()))})
        print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 1, float_format="%.3f"),
              flush=True)
    print(f"{time.process_time() - started:.0f} s CPU")
    if args.write:
        replace_rows(pd.DataFrame(rows), ["interval"])
        print(f"written to {CALIBRATION_FILE}")


if __name__ == "__main__":
    main()
