"""The analysis never silently absorbs a bad run: partial, interrupted, untrained, near-chance and
degenerate runs are refused, skipped or flagged, and every headline figure says how many pairs it
rests on (docs/bad_input.md #46-#52)."""

import logging

import numpy as np
import pandas as pd
import pytest

from homogenization.analysis.make_report import make_report
from homogenization.analysis.runs.synthetic_runs import noisy_copies, write_run
from homogenization.analysis.study import Settings
from homogenization.core.errors import UserError

N = 400


def study(tmp_path, rng, groups=("a", "b"), seeds=(1, 2, 3), error_rate=0.2):
    label = rng.integers(0, 2, N)
    for group in groups:
        for seed, pred in zip(seeds, noisy_copies(label, error_rate, len(seeds), rng)):
            write_run(tmp_path / f"{group}{seed}", pred, label, rng.normal(size=(N, 8)), model=group,
                      seed=seed)
    return label


def report(tmp_path, **settings):
    return make_report([str(tmp_path)], tmp_path / "report", ["model"], Settings(bootstrap=50, **settings))


@pytest.mark.parametrize("status", ["partial", "interrupted", "failed"])
def test_runs_that_are_not_complete_are_skipped_and_named(tmp_path, status):
    rng = np.random.default_rng(0)
    label = study(tmp_path, rng)
    write_run(tmp_path / "bad", label, label, rng.normal(size=(N, 8)), model="a", seed=9, status=status)
    analysis = report(tmp_path)
    assert "bad" not in [run.name for run in analysis.runs]
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert f"`{tmp_path / 'bad'}`: status {status}" in markdown


def test_degenerate_representations_give_nan_similarity_and_one_warning(tmp_path, caplog):
    rng = np.random.default_rng(1)
    label = study(tmp_path, rng)
    nan = rng.normal(size=(N, 8))
    nan[3, 2] = np.nan
    noisy = noisy_copies(label, 0.2, 2, rng)
    write_run(tmp_path / "a8", noisy[0], label, nan, model="a", seed=8)
    write_run(tmp_path / "a9", noisy[1], label, np.ones((N, 8)), model="a", seed=9)
    with caplog.at_level(logging.WARNING):
        analysis = report(tmp_path)
    for run in ("a8", "a9"):
        involved = analysis.pairs[(analysis.pairs.run_a == run) | (analysis.pairs.run_b == run)]
        assert involved[["linear_cka", "debiased_cka", "mutual_knn"]].isna().all().all()
        assert involved["error_consistency"].notna().all()   # outcomes are still defined
        assert sum(f"{run}: its test representations are" in r.message for r in caplog.records) == 1
    pairs = analysis.pairs
    others = pairs[~pairs.run_a.isin(["a8", "a9"]) & ~pairs.run_b.isin(["a8", "a9"])]
    assert others["mutual_knn"].notna().all()
    knn = analysis.headline["mutual_knn"]
    assert knn["within_pairs"] == 3 + 3 and knn["within_pairs_total"] == 10 + 3


def test_group_failing_every_unit_is_undefined_and_headline_counts_its_pairs(tmp_path):
    rng = np.random.default_rng(2)
    label = study(tmp_path, rng, groups=("a",))
    for seed in (1, 2, 3):   # a group of runs that get every unit wrong
        write_run(tmp_path / f"z{seed}", 1 - label, label, rng.normal(size=(N, 8)), model="z", seed=seed)
    analysis = report(tmp_path)
    consistency = analysis.headline["error_consistency"]
    assert consistency["within_pairs"] == 3 and consistency["within_pairs_total"] == 6
    # matched on seed (a and z share seeds 1-3): the 3 across pairs of one seed are left out
    assert consistency["across_pairs"] == consistency["across_pairs_total"] == 6   # kappa 0: defined
    groups = analysis.group_table.set_index("group")
    assert "error_consistency undefined for 3 of 3 pairs" in groups.loc["z", "undefined"]
    assert groups.loc["a", "undefined"] == ""
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "**3 of 6**" in markdown and "error_consistency undefined for 3 of 3 pairs" in markdown


def test_untrained_and_near_chance_runs_are_flagged(tmp_path):
    rng = np.random.default_rng(3)
    label = study(tmp_path, rng)
    majority = np.full(N, np.bincount(label).argmax())
    write_run(tmp_path / "untrained", majority, label, rng.normal(size=(N, 8)), model="a", seed=7, steps=0)
    analysis = report(tmp_path)
    runs = analysis.run_table.set_index("run")
    assert runs.loc["untrained", "flags"] == "untrained (0 steps), near chance"
    assert runs.loc["untrained", "chance"] == pytest.approx(np.bincount(label).max() / N)
    assert runs.loc["a1", "flags"] == "" and runs.loc["a1", "ci_low"] > runs.loc["a1", "chance"]
    written = pd.read_csv(tmp_path / "report" / "runs.csv").set_index("run")
    assert written.loc["untrained", "flags"].startswith("untrained")
    assert "## Flagged runs" in (tmp_path / "report" / "report.md").read_text()


def test_runs_with_different_label_sets_are_refused(tmp_path):
    rng = np.random.default_rng(4)
    label = rng.integers(0, 2, N)
    write_run(tmp_path / "r1", label, label, rng.normal(size=(N, 4)), seed=1)
    write_run(tmp_path / "r2", label, label, rng.normal(size=(N, 4)), seed=2, labels=("bad", "good"))
    with pytest.raises(UserError, match=r"these runs have different label sets"):
        report(tmp_path)


def test_out_that_would_destroy_something_is_refused(tmp_path):
    rng = np.random.default_rng(5)
    study(tmp_path / "runs", rng)
    existing_file = tmp_path / "notes.txt"
    existing_file.write_text("mine")
    with pytest.raises(UserError, match=r"out=.*notes\.txt: is a file"):
        make_report([str(tmp_path / "runs")], existing_file, ["model"], Settings(bootstrap=10))
    with pytest.raises(UserError, match=r"holds files that are not a report"):
        make_report([str(tmp_path / "runs")], tmp_path, ["model"], Settings(bootstrap=10))
    assert existing_file.read_text() == "mine"
    out = tmp_path / "report"
    make_report([str(tmp_path / "runs")], out, ["model"], Settings(bootstrap=10))
    make_report([str(tmp_path / "runs")], out, ["model"], Settings(bootstrap=10))   # a report is replaced
