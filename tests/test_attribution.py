"""The design-aware analysis: factors read from the records, the matched headline, its confounds,
the attribution and its intervals, equal group weights and runs counted once."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from benchmarks.attribution_coverage import VARIANCES, bivariate_kappa, simulate
from homogenization.analysis.make_report import make_report
from homogenization.analysis.runs.synthetic_runs import write_factorial_study, write_run
from homogenization.analysis.study import Settings
from homogenization.training.compose import compose_train_config
from tests.helpers import FAST, FAST_LABELLED_DATA, REPO_ROOT, SMALL_MODELS

SETTINGS = Settings(bootstrap=200, knn_bootstrap=2, measures=[])


def test_the_expected_kappa_of_the_simulation_is_the_bivariate_normal_one():
    from scipy.stats import multivariate_normal, norm

    threshold = norm.ppf(0.8)
    for rho in (0.05, 0.3, 0.7):
        both = multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]]).cdf([-threshold, -threshold])
        assert bivariate_kappa(rho, 0.2) == pytest.approx((both - 0.04) / 0.16, abs=1e-5)


def test_a_confounded_sweep_is_matched_and_its_confound_named(tmp_path):
    """Architectures x seeds where the seed (data order) is what makes runs agree: the unmatched
    comparison says runs of one architecture agree *less*; matched, the difference is nil, the
    report names the confound and the attribution gives the seed's effect."""
    write_factorial_study(tmp_path / "runs", {"model.name": ["cnn", "tr"], "seed_data": [1, 2, 3]},
                          {"seed_data": 0.5}, 3000, 0.2, np.random.default_rng(0))
    analysis = make_report([str(tmp_path / "runs")], tmp_path / "report", ["model.name"], SETTINGS)
    kappa = analysis.headline["error_consistency"]
    assert kappa["raw_difference_ci"][1] < 0                        # confounded: reads as "less alike"
    assert kappa["difference_ci"][0] < 0 < kappa["difference_ci"][1]
    assert abs(kappa["difference"]) < 0.03 and kappa["across_pairs"] == 6 and kappa["within_pairs"] == 6
    assert analysis.matched_on == ["seed_data"]
    design = pd.read_csv(tmp_path / "report" / "design.csv").set_index("factor")
    assert design.loc["seed_data", "relation"] == "crossed with the grouping"
    assert design.loc["model.name", "relation"] == "aliased with the grouping"
    report = (tmp_path / "report" / "report.md").read_text()
    assert ("**Confound: seed_data** is shared by 3 of 9 across pairs and 0 of 6 within pairs; sharing it "
            "changes κ_err by +0.") in report
    factors = pd.read_csv(tmp_path / "report" / "factors.csv")
    kappa_rows = factors[factors.metric == "error_consistency"].set_index("factor")
    assert kappa_rows.loc["seed_data", "ci_low"] > 0.15                 # truth: kappa(0.5) = 0.30
    assert kappa_rows.loc["same group", "ci_low"] < 0 < kappa_rows.loc["same group", "ci_high"]
    # the architecture has 2 levels: its interval rests on 1 degree of freedom, and says so
    assert kappa_rows.loc["same group", "note"].startswith("2 levels: its interval rests on 1 degree")
    assert pd.isna(kappa_rows.loc["seed_data", "note"])                     # 3 levels: no note
    assert "2 levels: its interval rests on 1 degree of freedom" in report
    assert "resampled jointly" not in report.split("## What makes two runs agree?")[1].split("##")[0]
    assert (tmp_path / "report" / "figures" / "factor_effects.png").stat().st_size > 1000
    summary = json.loads((tmp_path / "report" / "homogenization.json").read_text())
    assert summary["matched_on"] == ["seed_data"]


@pytest.mark.parametrize("levels, studies", [(3, 40), (5, 8)])
def test_attribution_intervals_cover_the_truth(levels, studies):
    """Factorial studies with a known truth (benchmarks/attribution_coverage.py measures it with
    hundreds of studies: 0.94-0.95 at 3 levels, 0.93-0.94 at 5): each factor's interval covers it
    about as often as it claims, neither much less nor (the old pigeonhole bootstrap: 0.975-1.00)
    every time."""
    rng = np.random.default_rng(levels)
    results = [simulate(levels, rng, units=600, replicates=20) for _ in range(studies)]
    hits = []
    for factor in VARIANCES:
        truth = np.mean([population[factor] for _, population in results])
        rows = [table[table.factor == factor].iloc[0] for table, _ in results]
        hits += [row.ci_low <= truth <= row.ci_high for row in rows]
        assert np.mean([row.effect for row in rows]) == pytest.approx(truth, abs=0.01)
    assert 0.85 <= np.mean(hits) <= (0.99 if levels == 3 else 1.0), np.mean(hits)


def test_groups_weigh_the_same_and_a_group_of_one_is_explained(tmp_path):
    rng = np.random.default_rng(1)
    label = rng.integers(0, 2, 1500)
    shared = rng.random(1500) < 0.25
    sizes = {"big": 8, "small": 2, "single": 1}
    for model, count in sizes.items():
        for seed in range(count):
            own = rng.random(1500) < (0.05 if model == "big" else 0.25)
            errors = (shared & (model == "big")) | own
            write_run(tmp_path / "runs" / f"{model}{seed}", np.where(errors, 1 - label, label), label,
                      rng.normal(size=(1500, 4)), model=model, seed=seed)
    analysis = make_report([str(tmp_path / "runs")], tmp_path / "report", ["model"], SETTINGS)
    groups = analysis.group_table.set_index("group")
    equal = (groups.loc["big", "error_consistency"] + groups.loc["small", "error_consistency"]) / 2
    assert analysis.headline["error_consistency"]["within"] == pytest.approx(equal)
    paired = make_report([str(tmp_path / "runs")], tmp_path / "paired", ["model"],
                         Settings(bootstrap=50, knn_bootstrap=2, measures=[], pair_weighting=True))
    by_pairs = (28 * groups.loc["big", "error_consistency"] + groups.loc["small", "error_consistency"]) / 29
    assert paired.headline["error_consistency"]["within"] == pytest.approx(by_pairs)
    report = (tmp_path / "report" / "report.md").read_text()
    assert "Group **single** has one run" in report and "no seed variance" in report
    assert "every group (within) and every pair of groups (across) weighs the same" in report


def test_the_same_run_reached_twice_is_counted_once(tmp_path):
    rng = np.random.default_rng(2)
    label = rng.integers(0, 2, 300)
    for seed in (1, 2):
        write_run(tmp_path / "runs" / f"r{seed}", np.where(rng.random(300) < 0.2, 1 - label, label), label,
                  rng.normal(size=(300, 4)), seed=seed)
    shutil.copytree(tmp_path / "runs" / "r1", tmp_path / "runs" / "r1_copy")
    (tmp_path / "runs" / "r2_link").symlink_to(tmp_path / "runs" / "r2")
    analysis = make_report([str(tmp_path / "runs"), str(tmp_path / "runs" / "r2_link")], tmp_path / "report",
                           ["model"], SETTINGS)
    assert sorted(run.name for run in analysis.runs) == ["r1", "r2"]
    report = (tmp_path / "report" / "report.md").read_text()
    assert "r1_copy`: a byte-identical copy of" in report and "r2_link`: the same directory as" in report


def test_the_shipped_studies_give_each_architecture_its_own_seeds(tmp_path):
    seeds = {}
    for model in ("cnn_lstm", "transformer"):
        cfg = compose_train_config(tmp_path / model, ["experiment=demo", f"model={model}", "seed=2"])
        seeds[model] = (cfg.seed_init, cfg.seed_data)
    assert seeds["cnn_lstm"] != seeds["transformer"]
    assert all(s < 2**32 for pair in seeds.values() for s in pair)
    from omegaconf import OmegaConf

    sources = OmegaConf.load(REPO_ROOT / "conf" / "experiment" / "sources_of_variation.yaml")
    assert set(sources.hydra.sweeper.params) == {"seed_init", "seed_data", "model"}


def test_sources_of_variation_varies_every_seed_factor_at_three_levels_and_can_estimate_each(tmp_path):
    """The shipped design: 3 levels of seed_init, seed_data and the subset (a Latin square), so
    every effect's interval rests on 2 degrees of freedom, and the attribution can estimate each."""
    from itertools import product

    from homogenization.analysis.design.attribution import attribute
    from homogenization.analysis.design.read_design import Factor

    jobs = []
    for model, seed_init, seed_data in product(("cnn_lstm", "transformer"), (1, 2, 3), (1, 2, 3)):
        cfg = compose_train_config(tmp_path / f"{model}{seed_init}{seed_data}", [
            "experiment=sources_of_variation", f"model={model}", f"seed_init={seed_init}",
            f"seed_data={seed_data}"])
        jobs.append((model, cfg.seed_init, cfg.seed_data, cfg.data.subsample_seed))
    table = np.array([[hash(v) for v in job] for job in jobs])
    for column in range(1, 4):
        assert len(set(table[:, column])) == 3                  # every seed factor at 3 levels
    for model in ("cnn_lstm", "transformer"):                    # a Latin square within an architecture
        mine = [job[1:] for job in jobs if job[0] == model]
        assert len({(a, c) for a, _, c in mine}) == 9 and len({(b, c) for _, b, c in mine}) == 9
    factors = [Factor([name], np.unique(table[:, k], return_inverse=True)[1], [])
               for k, name in enumerate(("model", "seed_init", "seed_data", "data.subsample_seed"))]
    runs = len(jobs)
    rng = np.random.default_rng(0)
    point = {"error_consistency": rng.normal(size=(runs, runs))}
    replicated = {"error_consistency": rng.normal(size=(20, runs, runs))}
    found = attribute(point, replicated, np.ones((20, runs, runs)), factors, ["error_consistency"])
    estimable = found[found.factor != "(no factor shared)"]
    assert estimable.effect.notna().all() and estimable.ci_low.notna().all(), found
    one_df = estimable[estimable.note.str.contains("rests on 1 degree of freedom")]
    assert list(one_df.factor) == ["model"]                      # two architectures; every seed factor has 3


def test_a_trained_crossed_sweep_reports_its_design(tmp_path):
    """The README's old recipe, models x seeds with the default seeds (seed sets the data order):
    the report reads seed_init (= seed_data) from the records, sees it crossed with the
    architecture and matches the headline on it."""
    sweep = tmp_path / "sweep"
    command = [sys.executable, "scripts/train.py", "-m", "model=cnn_lstm,transformer", "seed=1,2",
               f"hydra.sweep.dir={sweep}", f"paths.cache_dir={tmp_path / 'cache'}", *FAST,
               *FAST_LABELLED_DATA, *SMALL_MODELS["cnn_lstm"][:1]]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    analysis = make_report([str(sweep)], tmp_path / "report", ["model.name"], SETTINGS)
    design = analysis.design.set_index("factor")
    assert design.loc["seed_init", "keys"] == "seed_init, seed_data"
    assert design.loc["seed_init", "relation"] == "crossed with the grouping"
    assert analysis.matched_on == ["seed_init"]
    report = (tmp_path / "report" / "report.md").read_text()
    assert "Matched on seed_init" in report
    shares = "shared by 2 of 4 across pairs and 0 of 2 within pairs"
    resolved = analysis.factors[(analysis.factors.metric == "error_consistency")
                                & (analysis.factors.factor == "seed_init")].iloc[0]
    named = (f"**Confound: seed_init** is {shares}" if resolved.ci_low > 0 or resolved.ci_high < 0
             else f"**seed_init is imbalanced, no effect resolved** ({shares}")
    assert named in report                           # named by what the attribution resolves
    assert set(analysis.factors.factor) == {"(no factor shared)", "same group", "seed_init"}
