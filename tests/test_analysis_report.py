"""The analysis end to end on run records: discovery, refusals, tables, intervals, files, CLI."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from homogenization.analysis.make_report import make_report
from homogenization.analysis.metrics.registry import METRICS
from homogenization.analysis.runs.synthetic_runs import noisy_copies, write_run
from homogenization.analysis.study import Settings
from homogenization.core.errors import UserError
from tests.helpers import REPO_ROOT
from tests.wandb_records import logged_artifacts, run_summary

FAST_SETTINGS = Settings(bootstrap=200, blocks=20)


def study(root, n=2000, seeds=3, shared_errors=0.15, seed=0):
    """Two groups; runs of group 'a' share a set of hard units, group 'b' errs independently."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    hard = rng.random(n) < shared_errors
    features = rng.normal(size=(n, 16))
    for s in range(seeds):
        a = np.where(hard | (rng.random(n) < 0.05), 1 - label, label)
        write_run(root / f"a-seed{s}", a, label, features + 0.3 * rng.normal(size=(n, 16)), "a", s)
        b = noisy_copies(label, 0.2, 1, rng)[0]
        write_run(root / f"b-seed{s}", b, label, rng.normal(size=(n, 16)), "b", s)
    return label


def test_identical_runs_agree_perfectly(tmp_path):
    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, 300)
    pred, features = noisy_copies(label, 0.3, 1, rng)[0], rng.normal(size=(300, 8))
    for s in (1, 2):
        write_run(tmp_path / f"run{s}", pred, label, features, seed=s)
    analysis = make_report([str(tmp_path)], tmp_path / "report", ["model"], FAST_SETTINGS)
    pair = analysis.pairs.iloc[0]
    assert pair.agreement == 1 and pair.error_consistency == pytest.approx(1)
    assert pair.linear_cka == pytest.approx(1, abs=1e-5) and pair.mutual_knn == 1
    assert pair.error_jaccard == pytest.approx(1)


def test_independent_errors_give_ratio_near_one(tmp_path):
    rng = np.random.default_rng(1)
    label = rng.integers(0, 2, 20000)
    for s, pred in enumerate(noisy_copies(label, 0.3, 4, rng)):
        write_run(tmp_path / f"run{s}", pred, label, rng.normal(size=(20000, 4)), seed=s)
    analysis = make_report([str(tmp_path)], tmp_path / "report", ["model"], FAST_SETTINGS)
    assert analysis.pairs.homogenization_ratio.between(0.95, 1.05).all()
    assert analysis.pairs.error_consistency.abs().max() < 0.03
    groups = analysis.group_table.set_index("group")
    all_runs = groups.loc["all (pooled)"]
    assert all_runs.all_wrong == pytest.approx(all_runs.all_wrong_independent, rel=0.25)
    assert abs(all_runs.fleiss_kappa) < 0.03


def test_report_separates_a_homogenized_group(tmp_path):
    study(tmp_path / "sweep", seeds=5)  # with 3 seeds, 1 replicate in 9 draws one run 3 times
    analysis = make_report([str(tmp_path / "sweep")], tmp_path / "report", ["model"], FAST_SETTINGS)
    report = tmp_path / "report"

    pairs = pd.read_csv(report / "pairs.csv")
    assert len(pairs) == 45
    expected = {m for m in METRICS if not METRICS[m].optional and METRICS[m].applies(analysis.outcomes)}
    assert {"run_a", "run_b", "group_a", "group_b", *expected} <= set(pairs.columns)
    assert "same_wrong" not in pairs.columns          # two labels: one wrong label, nothing to compare
    groups = pd.read_csv(report / "groups.csv").set_index("group")
    assert list(groups.index) == ["a", "b", "all (pooled)"]
    assert groups.loc["a", "homogenization_ratio"] > 2 > groups.loc["b", "homogenization_ratio"] > 0.8
    assert groups.loc["a", "all_wrong"] > 5 * groups.loc["a", "all_wrong_independent"]
    histogram = pd.read_csv(report / "k_histograms.csv")
    assert np.allclose(histogram.groupby("group")[["observed", "independent"]].sum(), 1)

    summary = json.loads((report / "homogenization.json").read_text())
    kappa = summary["headline"]["error_consistency"]
    assert kappa["within_ci"][0] < kappa["within"] < kappa["within_ci"][1]
    assert kappa["difference_ci"][0] > 0  # within-group errors are more alike, significantly
    accuracy = groups.loc["a"]
    assert accuracy.metric_ci_low < accuracy.metric_mean < accuracy.metric_ci_high
    assert analysis.headline["linear_cka"]["within"] > analysis.headline["linear_cka"]["across"]
    for figure in ("error_consistency", "linear_cka", "k_histogram", "task_metric", "headline"):
        assert (report / "figures" / f"{figure}.png").stat().st_size > 1000
    markdown = (report / "report.md").read_text()
    assert "| error consistency (κ_err) |" in markdown and "figures/k_histogram.png" in markdown
    assert "metric_ci_low" not in markdown and "| all (pooled) |" in markdown   # readable columns


def test_incomplete_and_failed_runs_are_skipped_and_listed(tmp_path):
    study(tmp_path / "sweep", n=300, seeds=2)
    (tmp_path / "sweep" / "crashed" / ".hydra").mkdir(parents=True)
    failed = tmp_path / "sweep" / "failed"
    failed.mkdir()
    (failed / "run.json").write_text(json.dumps({"status": "failed", "error": "loss became NaN"}))
    analysis = make_report([str(tmp_path / "sweep")], tmp_path / "report", ["model"], FAST_SETTINGS)
    assert len(analysis.runs) == 4
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "crashed`: no run.json" in markdown and "loss became NaN" in markdown


def test_runs_on_different_test_data_are_refused(tmp_path):
    rng = np.random.default_rng(2)
    label = rng.integers(0, 2, 100)
    write_run(tmp_path / "x", label, label, rng.normal(size=(100, 4)), fingerprint="one")
    write_run(tmp_path / "y", label, label, rng.normal(size=(100, 4)), fingerprint="two")
    with pytest.raises(UserError, match="different data.*one.*: x.*two.*: y"):
        make_report([str(tmp_path)], tmp_path / "report", ["model"], FAST_SETTINGS)
    assert not (tmp_path / "report").exists()


def test_cli_with_glob_group_by_and_wandb_offline(tmp_path):
    study(tmp_path / "sweep", n=300, seeds=2)
    out, wandb_dir = tmp_path / "report", tmp_path / "wandb_files"
    command = [sys.executable, "scripts/analyze.py", f"runs={tmp_path / 'sweep'}/a-*", f"out={out}",
               "group_by=[seed]", "bootstrap=100",
               f"wandb={{project: homogenization, group: test, name: my-study, dir: {wandb_dir}}}"]
    env = {**__import__("os").environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    progress = [line for line in (result.stdout + result.stderr).splitlines() if "analysis: " in line]
    assert len(progress) >= 3 and "bootstrap replicates" in progress[1]   # its phases, with elapsed time
    assert list(pd.read_csv(out / "groups.csv").group) == ["0", "1", "all (pooled)"]
    assert not list(out.rglob("*.wandb"))   # W&B's files live outside the report
    (run_file,) = wandb_dir.glob("wandb/offline-run-*/run-*.wandb")
    tables = {p.name.rsplit("_", 2)[0] for p in run_file.parent.glob("files/media/table/*.table.json")}
    assert {f.stem for f in out.glob("*.csv")} <= tables and {"pairs", "groups", "runs"} <= tables
    drawn = len(list((out / "figures").glob("*.png")))
    assert drawn >= 5 and len(list(run_file.parent.glob("files/media/images/figures/*.png"))) == drawn
    logged = run_summary(run_file)
    assert logged["name"] == "my-study" and logged["job_type"] == "analysis"
    # lineage offline: each analysed run's record artifact, by name and content digest
    from homogenization.core.wandb_artifacts import record_artifact
    analysed = sorted((tmp_path / "sweep").glob("a-*"))
    expected = sorted((a.name, a.manifest.digest()) for a in map(record_artifact, analysed))
    assert sorted((i["name"], i["digest"]) for i in logged["config"]["inputs"]) == expected
    reports = [a for a in logged_artifacts(run_file) if a["type"] == "homogenization-report"]
    assert [a["name"] for a in reports] == ["report-my-study"]
    # re-making the report into the same out= keeps the unsynced W&B run
    again = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0 and run_file.is_file()
    assert len(list(wandb_dir.glob("wandb/offline-run-*/run-*.wandb"))) == 2

    bad = subprocess.run([sys.executable, "scripts/analyze.py", f"runs={tmp_path / 'sweep'}",
                          "group_by=[model.nope]"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "group_by=model.nope: no such key" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr


def test_a_backbone_sweep_gets_readable_group_names(tmp_path):
    from homogenization.analysis.runs.discovery import Run, assign_groups
    from homogenization.core.run_record import RunRecord

    runs = [Run(tmp_path / f"r{b}{s}", RunRecord(status="complete", seed=s, config={
        "backbone": f"{tmp_path}/pretrain/seed{b}/pretrained", "model": {"name": "bert"}}))
        for b in (1, 2, 3) for s in (1, 2)]
    assert assign_groups(runs, ["backbone"]) == ["seed1", "seed2", "seed3"]
    assert assign_groups(runs, ["model.name", "backbone"]) == ["bert,seed1", "bert,seed2", "bert,seed3"]
