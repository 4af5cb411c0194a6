"""Coverage of the attribution's intervals (factors.csv) on synthetic factorial studies with a
known truth.

Each simulated study crosses three factors (architecture, seed_init, seed_data) with k levels
each, one run per combination (``synthetic_runs.factorial_errors``): two runs sharing the factors S
have error propensities correlated by rho_S, so their expected error consistency is the
bivariate-normal kappa(rho_S). The truth of a factor's effect is the least-squares projection of
those expected values on the sharing indicators over the study's pairs, averaged over studies
(levels differ in how much they share when ``--spread`` > 0). We report, per factor, how often the
95% interval covers the truth, and the mean interval width against the spread of the estimates.

The three factors span the regimes a reviewer asks about: seed_init has a strong effect, the
architecture a moderate one, seed_data none (a null factor); ``--spread 0`` makes every level
share equally (an effect equal at every level), ``--spread 0.5`` lets levels differ
(level-dependent). ``--write`` adds the rows to the calibration table the report quotes
(``homogenization/analysis/calibration.csv``), replacing those of the same levels and spread.

    python benchmarks/attribution_coverage.py --levels 3 --studies 400 --spread 0 --write
    python benchmarks/attribution_coverage.py --levels 5 --studies 200 --spread 0.5 --write
"""

from __future__ import annotations

import argparse
import time
from statistics import NormalDist

import numpy as np
import pandas as pd

from homogenization.analysis.calibration import CALIBRATION_FILE, replace_rows
from homogenization.analysis.design.attribution import attribute, upper
from homogenization.analysis.design.read_design import Factor
from homogenization.analysis.metrics.agreement import error_pair_stats
from homogenization.analysis.metrics.bootstrap import level_draws
from homogenization.analysis.runs.synthetic_runs import factorial_errors

VARIANCES = {"model.name": 0.08, "seed_init": 0.2, "seed_data": 0.0}
STRENGTH = {"model.name": "moderate", "seed_init": "strong", "seed_data": "null"}


def bivariate_kappa(rho: float, error_rate: float) -> float:
    """Expected kappa_err of two runs whose propensities correlate by rho (both err above the
    (1 - error_rate) quantile): P(both err) by integrating over the first propensity."""
    normal = NormalDist()
    t = normal.inv_cdf(1 - error_rate)
    x = np.linspace(t, t + 10, 4001)
    density = np.exp(-x**2 / 2) / np.sqrt(2 * np.pi)
    if rho >= 1:
        both = error_rate
    else:
        tail = np.array([1 - normal.cdf((t - rho * v) / np.sqrt(1 - rho**2)) for v in x])
        both = float(np.trapezoid(density * tail, x))
    return (both - error_rate**2) / (error_rate * (1 - error_rate))


def simulate(levels: int, rng: np.random.Generator, units: int = 1000, error_rate: float = 0.2,
             replicates: int = 200, spread: float = 0.5, blocks: int = 50):
    """One study: (factors.csv rows for error consistency, the study's population effects)."""
    design = {name: list(range(levels)) for name in VARIANCES}
    runs, realized = factorial_errors(design, VARIANCES, units, error_rate, rng, spread)
    errors = np.array([e for _, e in runs], dtype=float)
    factors = []
    for name in VARIANCES:
        values = np.array([v[name] for v, _ in runs])
        factors.append(Factor([name], values, [str(v) for v in range(levels)]))
    onehot = np.eye(blocks)[rng.permutation(units) % blocks]
    error_blocks, co_blocks = errors @ onehot, np.einsum("an,bn,nm->abm", errors, errors, onehot)
    block_units = onehot.sum(0)

    def kappa(weights):
        counted = weights @ block_units
        rate = (weights @ error_blocks.T) / counted[:, None]
        both = np.einsum("abm,km->kab", co_blocks, weights) / counted[:, None, None]
        return error_pair_stats(rate, both)["error_consistency"]

    point = kappa(np.ones((1, blocks)))[0]
    block_draws = rng.multinomial(blocks, np.full(blocks, 1 / blocks), size=replicates).astype(float)
    draws = level_draws([f.levels for f in factors], replicates, rng)
    table = attribute({"error_consistency": point}, {"error_consistency": kappa(block_draws)},
                      draws[:, :, None] * draws[:, None, :], factors, ["error_consistency"])
    top = upper(len(runs))
    rho = sum(f.shared() * np.array([realized[(f.name, v[f.name])] for v, _ in runs])[:, None]
              for f in factors)
    grid = np.linspace(0, 0.99, 100)
    expected = np.interp(rho[top], grid, [bivariate_kappa(r, error_rate) for r in grid])
    columns = np.column_stack([np.ones(int(top.sum())), *[f.shared()[top] for f in factors]])
    population = np.linalg.lstsq(columns, expected, rcond=None)[0]
    return table, dict(zip(["(no factor shared)", *VARIANCES], population))


def regime(factor: str, spread: float) -> str:
    if VARIANCES[factor] == 0:
        return "no effect (null)"
    return f"{STRENGTH[factor]}, " + ("equal at every level" if spread == 0 else "level-dependent")


def summary(results: list, levels: int, spread: float) -> pd.DataFrame:
    """One row per factor: its regime, the truth, the mean estimate, coverage and widths."""
    rows = []
    for factor in VARIANCES:
        truth = float(np.mean([population[factor] for _, population in results]))
        found = [table[table.factor == factor].iloc[0] for table, _ in results]
        effect = np.array([r.effect for r in found])
        low, high = np.array([r.ci_low for r in found]), np.array([r.ci_high for r in found])
        rows.append({"interval": "attribution", "levels": levels, "spread": spread, "factor": factor,
                     "regime": regime(factor, spread), "studies": len(results), "truth": truth,
                     "mean_estimate": float(effect.mean()),
                     "coverage": float(np.mean((low <= truth) & (truth <= high))),
                     "width_vs_spread": float(np.mean(high - low) / (3.92 * effect.std())),
                     "median_width_vs_spread": float(np.median(high - low) / (3.92 * effect.std()))})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--spread", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true", help="add the rows to the report's calibration table")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    started = time.process_time()
    results = [simulate(args.levels, rng, spread=args.spread) for _ in range(args.studies)]
    print(f"{args.studies} studies, {args.levels} levels per factor, spread {args.spread}, "
          f"{time.process_time() - started:.0f} s CPU")
    rows = summary(results, args.levels, args.spread)
    print(rows.to_string(index=False, float_format="%.3f"))
    if args.write:
        replace_rows(rows, ["interval", "levels", "spread"])
        print(f"written to {CALIBRATION_FILE}")


if __name__ == "__main__":
    main()
