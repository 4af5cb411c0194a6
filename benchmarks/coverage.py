"""Coverage of the headline's 95% intervals in simulated studies, run by hand:

    python benchmarks/coverage.py                 # 200 studies of 2 groups x 4 runs x 500 units
    python benchmarks/coverage.py --studies 400 --units 1000

A population: units have a latent z ~ N(0, I_8); a group is a fixed linear map of z to 32 dims; a
run (a seed) adds its own random map of z and noise. Each study draws fresh test units and fresh
runs and computes the headline (within-group and across-group means) with its intervals.

The value an interval should cover, per measure:
- linear CKA and debiased CKA: the population value, estimated from 20,000 units and 40 runs per
  group (CKA's population value does not depend on the test-set size; plain CKA's estimate does,
  being biased upwards at few units);
- mutual k-NN: its expectation at this test-set size (it depends on the sample: neighbours are
  denser in a larger one), estimated as the mean estimate of as many separate studies.
- error consistency: errors come from a unit propensity shared by the group (variance 0.3) and
  by everyone (0.1) plus each run's own, thresholded at a 20% error rate; two runs' propensities
  then correlate by 0.4 (same group) or 0.1, and the target is the bivariate-normal kappa_err of
  that correlation (``attribution_coverage.bivariate_kappa``).
Coverage is the share of studies whose interval holds that value. Seeds are distinct across
groups, so the headline needs no matching.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.attribution_coverage import bivariate_kappa  # noqa: E402
from homogenization.analysis.runs.discovery import assign_groups, find_runs  # noqa: E402
from homogenization.analysis.runs.synthetic_runs import write_run  # noqa: E402
from homogenization.analysis.study import Settings, analyze  # noqa: E402

LATENT, WIDTH = 8, 32
MEASURES = ("error_consistency", "linear_cka", "debiased_cka", "mutual_knn")
SHARED_BY_GROUP, SHARED_BY_ALL, ERROR_RATE = 0.3, 0.1, 0.2


def population(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {group: rng.normal(size=(LATENT, WIDTH)) for group in ("a", "b")}


def representations(maps, group: str, units: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    own = rng.normal(size=(LATENT, WIDTH))
    return units @ (maps[group] + 0.8 * own) + 0.7 * rng.normal(size=(len(units), WIDTH))


def study(maps, units: int, runs: int, bootstrap: int, rng: np.random.Generator,
          knn_bootstrap: int | None = None) -> dict:
    from statistics import NormalDist

    z = rng.normal(size=(units, LATENT))
    label = rng.integers(0, 2, units)
    everyone = rng.normal(size=units)
    threshold = NormalDist().inv_cdf(1 - ERROR_RATE)
    with tempfile.TemporaryDirectory() as root:
        for offset, group in enumerate(("a", "b")):
            by_group = rng.normal(size=units)
            for seed in range(runs):
                own = np.sqrt(1 - SHARED_BY_GROUP - SHARED_BY_ALL) * rng.normal(size=units)
                propensity = np.sqrt(SHARED_BY_GROUP) * by_group + np.sqrt(SHARED_BY_ALL) * everyone + own
                errors = propensity > threshold
                pred = np.where(errors, 1 - label, label)
                write_run(Path(root) / f"{group}{seed}", pred, label, representations(maps, group, z, rng),
                          model=group, seed=100 * offset + seed)
        found, _ = find_runs([root])
        groups = assign_groups(found, ["model"])
        result = analyze(found, groups, Settings(bootstrap=bootstrap, blocks=25, seed=int(rng.integers(1e9)),
                                                 measures=[], knn_bootstrap=knn_bootstrap or bootstrap))
    return result.headline


def population_cka(maps, rng: np.random.Generator) -> dict[str, dict[str, float]]:
    """Within- and across-group mean of linear CKA at 20,000 units, 40 runs per group."""
    from homogenization.analysis.metrics.similarity import linear_cka

    z = rng.normal(size=(20_000, LATENT))
    runs = {group: [representations(maps, group, z, rng) for _ in range(40)] for group in ("a", "b")}
    within = [linear_cka(x, y) for group in runs
              for i, x in enumerate(runs[group]) for y in runs[group][i + 1:]]
    across = [linear_cka(x, y) for x in runs["a"] for y in runs["b"]]
    truth = {"within": float(np.mean(within)), "across": float(np.mean(across))}
    return {"linear_cka": truth, "debiased_cka": truth}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--units", type=int, default=500)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--knn-bootstrap", type=int, default=None,
                        help="mutual k-NN replicates (default: --bootstrap); small = skip k-NN coverage")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    maps = population(rng)
    truth = population_cka(maps, rng)
    truth["error_consistency"] = {"within": bivariate_kappa(SHARED_BY_GROUP + SHARED_BY_ALL, ERROR_RATE),
                                  "across": bivariate_kappa(SHARED_BY_ALL, ERROR_RATE)}
    calibration = [study(maps, args.units, args.runs, 20, rng, args.knn_bootstrap)
                   for _ in range(args.studies)]
    truth["mutual_knn"] = {side: float(np.mean([h["mutual_knn"][side] for h in calibration]))
                           for side in ("within", "across")}
    covered = {(m, side): [] for m in MEASURES for side in ("within", "across")}
    widths = {(m, side): [] for m in MEASURES for side in ("within", "across")}
    estimates = {(m, side): [] for m in MEASURES for side in ("within", "across")}
    for _ in range(args.studies):
        headline = study(maps, args.units, args.runs, args.bootstrap, rng, args.knn_bootstrap)
        for measure in MEASURES:
            for side in ("within", "across"):
                low, high = headline[measure][f"{side}_ci"]
                covered[(measure, side)].append(low <= truth[measure][side] <= high)
                widths[(measure, side)].append(high - low)
                estimates[(measure, side)].append(headline[measure][side])
    print(f"{args.studies} studies, 2 groups x {args.runs} runs, {args.units} units, B = {args.bootstrap}")
    print("| measure | side | target | mean estimate | interval width / (3.92 sd of the estimates) "
          "| coverage of the 95% interval |")
    print("|---|---|---|---|---|---|")
    for (measure, side), hits in covered.items():
        found = estimates[(measure, side)]
        ratio = np.mean(widths[(measure, side)]) / (3.92 * np.std(found))
        print(f"| {measure} | {side} | {truth[measure][side]:.4f} | {np.mean(found):.4f} | {ratio:.2f} "
              f"| {np.mean(hits):.3f} |")


if __name__ == "__main__":
    main()
