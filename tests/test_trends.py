"""The trend analysis (analysis.trend): the slope's interval covers a known trend in simulation,
the per-level figures equal a direct computation, and the report reads a numeric axis from real
records (training.parameters), refusing a key that is not numeric in one line."""

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from homogenization.analysis.design.trends import LEARNED, SYSTEMIC, TaskMetric, trend_analysis
from homogenization.analysis.make_report import make_report
from homogenization.analysis.runs.synthetic_runs import trend_pair_values, write_run
from homogenization.analysis.study import Settings
from homogenization.core.errors import UserError
from tests.helpers import REPO_ROOT

LEVELS = np.array([1e5, 2e5, 4e5, 8e5])


def _simulated_study(rng, slope, **kwargs):
    return trend_pair_values(rng, slope, LEVELS, **kwargs)


def _trend(level_of, point, replicated, accuracy, replicated_accuracy, seed=0):
    runs = [SimpleNamespace(name=f"r{i}") for i in range(len(level_of))]
    errors = np.zeros((len(runs), 10), bool)
    return trend_analysis(
        runs,
        "size",
        LEVELS[level_of],
        {"error_consistency": point},
        {"error_consistency": replicated},
        TaskMetric(accuracy, replicated_accuracy, "accuracy", 0.5),
        errors,
        len(replicated),
        seed,
    )


@pytest.mark.parametrize("run_sd, noise_sd", [(0.05, 0.6), (0.0, 1.0), (0.1, 0.2)])
def test_the_slope_interval_covers_a_known_trend(run_sd, noise_sd):
    rng = np.random.default_rng(11)
    truth, covered = 0.04, []
    for study in range(200):
        trend = _trend(*_simulated_study(rng, truth, run_sd=run_sd, noise_sd=noise_sd), seed=study)
        row = trend.trends.set_index("metric").loc["error_consistency"]
        covered.append(row["ci_low"] <= truth <= row["ci_high"])
    assert 0.91 <= np.mean(covered) <= 0.99, np.mean(covered)


def test_levels_equal_a_direct_computation():
    rng = np.random.default_rng(3)
    level_of, point, replicated, accuracy, replicated_accuracy = _simulated_study(rng, 0.1)
    trend = _trend(level_of, point, replicated, accuracy, replicated_accuracy)
    x = np.log2(LEVELS)
    means = []
    for level in range(len(LEVELS)):
        members = np.flatnonzero(level_of == level)
        pairs = [point[i, j] for i in members for j in members if i < j]
        means.append(np.mean(pairs))
        assert trend.levels.loc[level, "error_consistency"] == pytest.approx(means[-1])
        assert trend.levels.loc[level, "error_consistency_pairs"] == len(pairs)
    expected = np.polyfit(x, means, 1)[0]
    assert trend.trends.set_index("metric").loc["error_consistency", "slope"] == pytest.approx(expected)
    assert (
        trend.level_pairs["error_consistency"][0, 1] == 9
        and trend.level_pairs["error_consistency"][2, 2] == 3
    )
    assert trend.level_matrices["error_consistency"][0, 1] == pytest.approx(
        np.mean(point[np.ix_(level_of == 0, level_of == 1)])
    )


def _scaling_runs(root, rng, sizes=(1e5, 4e5, 1.6e6), runs_per_level=3, n=1500):
    """Runs whose errors follow a shared pattern more, and are fewer, as the size grows."""
    label = rng.integers(0, 2, n)
    hard = rng.random(n)
    for level, size in enumerate(sizes):
        share, rate = 0.15 + 0.3 * level, 0.3 - 0.08 * level
        for seed in range(runs_per_level):
            wrong = np.where(rng.random(n) < share, hard < rate, rng.random(n) < rate)
            wrong[:5] = True  # units 0-4: every run of every level fails them
            pred = np.where(wrong, 1 - label, label)
            representations = rng.normal(size=(n, 8)).astype(np.float32)
            run = write_run(
                root / f"size{level}-seed{seed}",
                pred,
                label,
                representations,
                seed=seed,
                texts=[f"sentence {i}" for i in range(n)],
            )
            record = json.loads((run / "run.json").read_text())
            record["training"]["parameters"] = int(size)
            (run / "run.json").write_text(json.dumps(record))


def test_the_report_reads_a_numeric_axis_of_the_records(tmp_path):
    _scaling_runs(tmp_path / "runs", np.random.default_rng(5), runs_per_level=4)
    analysis = make_report(
        [str(tmp_path / "runs")],
        tmp_path / "report",
        ["model"],
        Settings(trend="training.parameters", bootstrap=100, knn_bootstrap=10),
    )
    levels = pd.read_csv(tmp_path / "report" / "levels.csv")
    assert levels["level"].tolist() == [1e5, 4e5, 1.6e6] and levels["runs"].tolist() == [4, 4, 4]
    cells = pd.read_csv(tmp_path / "report" / "level_pairs.csv")
    within = cells[(cells["metric"] == "error_consistency") & (cells["level_a"] == cells["level_b"])]
    assert within["pairs"].tolist() == [6, 6, 6]
    trends = pd.read_csv(tmp_path / "report" / "trends.csv").set_index("metric")
    assert trends.loc["error_consistency", "ci_low"] > 0  # homogenization grows with size
    assert trends.loc["accuracy", "ci_low"] > 0
    assert np.isfinite(trends.loc["linear_cka", "slope_given_metric"])  # CKA: accuracy held fixed
    assert np.isnan(trends.loc["error_consistency", "slope_given_metric"])  # κ_err adjusts already
    units = pd.read_csv(tmp_path / "report" / "units.csv")
    assert (units.loc[:4, "scale_pattern"] == SYSTEMIC).all()
    errors = analysis.outcomes.errors
    size = analysis.trend.run_levels
    assert sorted(size) == [1e5] * 4 + [4e5] * 4 + [1.6e6] * 4
    small, large = errors[size == 1e5].mean(0), errors[size == 1.6e6].mean(0)
    learned = (small > 0.5) & (large < 0.5) & ~errors.all(0)
    assert (units["scale_pattern"] == LEARNED).sum() == learned.sum() > 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert "## Homogenization and scale" in report and f"**{learned.sum()} learned with scale**" in report


def test_a_key_that_is_not_numeric_is_one_line(tmp_path):
    _scaling_runs(tmp_path / "runs", np.random.default_rng(5), sizes=(1e5, 2e5), runs_per_level=2, n=200)
    with pytest.raises(UserError, match=r"analysis.trend=model: run .* has model='m', not a number"):
        make_report([str(tmp_path / "runs")], tmp_path / "report", ["model"], Settings(trend="model"))
    done = subprocess.run(
        [
            sys.executable,
            "scripts/analyze.py",
            f"runs={tmp_path / 'runs'}",
            f"out={tmp_path / 'cli'}",
            "trend=model",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "not a number" in done.stderr + done.stdout
    with pytest.raises(
        UserError, match=r"analysis.trend=data.train_fraction: run .* has no data.train_fraction"
    ):
        make_report(
            [str(tmp_path / "runs")], tmp_path / "report", ["model"], Settings(trend="data.train_fraction")
        )
    with pytest.raises(UserError, match="analysis.trend"):
        Settings(trend=["a", "b"])


def test_one_level_gives_the_report_without_a_trend(tmp_path):
    _scaling_runs(tmp_path / "runs", np.random.default_rng(5), sizes=(1e5,), runs_per_level=3, n=200)
    analysis = make_report(
        [str(tmp_path / "runs")],
        tmp_path / "report",
        ["seed"],
        Settings(trend="training.parameters", bootstrap=20, knn_bootstrap=0),
    )
    assert analysis.trend is None and not (tmp_path / "report" / "trends.csv").exists()
    assert "a trend needs two levels" in (tmp_path / "report" / "report.md").read_text()


def test_an_axis_with_zero_is_linear(tmp_path):
    """A key that is 0 somewhere (a learning-rate warm-up, a layer index) has no log scale: the
    slope is per unit of the key, and the report says so."""
    _scaling_runs(tmp_path / "runs", np.random.default_rng(2), sizes=(0, 1, 2), runs_per_level=3, n=300)
    analysis = make_report(
        [str(tmp_path / "runs")],
        tmp_path / "report",
        ["model"],
        Settings(trend="training.parameters", bootstrap=50, knn_bootstrap=0),
    )
    assert analysis.trend.scale == "linear" and analysis.trend.levels["x"].tolist() == [0, 1, 2]
    assert set(analysis.trend.trends["per"]) == {"unit"}
    assert "Slopes per unit of training.parameters" in (tmp_path / "report" / "report.md").read_text()


def test_the_trend_reaches_w_and_b_offline(tmp_path):
    """homog-analyze trend=... wandb=...: trends.csv and levels.csv as tables, the four figures,
    each slope and its interval in the run's summary (the real wandb library, offline)."""
    import os

    from tests.wandb_records import run_summary

    _scaling_runs(tmp_path / "runs", np.random.default_rng(5), runs_per_level=3, n=400)
    out, wandb_dir = tmp_path / "report", tmp_path / "wandb_files"
    command = [
        sys.executable,
        "scripts/analyze.py",
        f"runs={tmp_path / 'runs'}",
        f"out={out}",
        "group_by=[training.parameters]",
        "trend=training.parameters",
        "bootstrap=50",
        "knn_bootstrap=0",
        f"wandb={{project: homogenization, group: scale, dir: {wandb_dir}}}",
    ]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (run_file,) = wandb_dir.glob("wandb/offline-run-*/run-*.wandb")
    tables = {p.name.rsplit("_", 2)[0] for p in run_file.parent.glob("files/media/table/*.table.json")}
    assert {"trends", "levels", "level_pairs", "capability"} <= tables
    images = {p.name.rsplit("_", 2)[0] for p in run_file.parent.glob("files/media/images/figures/*.png")}
    assert {"trend_homogenization", "alignment_capability", "level_matrix", "trend_task_metric"} <= images
    summary = run_summary(run_file)["summary"]
    trends = pd.read_csv(out / "trends.csv").set_index("metric")
    assert summary["trend/error_consistency/slope"] == pytest.approx(trends.loc["error_consistency", "slope"])
    assert summary["trend/accuracy/ci_low"] == pytest.approx(trends.loc["accuracy", "ci_low"])


@pytest.mark.parametrize("estimate", ["capability", "given"])
def test_the_capability_and_given_accuracy_intervals_cover_known_slopes(estimate):
    """Pair values gamma * log2(level) (pairs within a level) + beta * (the pair's mean accuracy) +
    run effects + run-by-item noise, accuracies measured with item noise. Alignment against
    capability covers beta (gamma = 0); the slope with accuracy held fixed covers gamma. Both are
    percentile intervals of the joint bootstrap (conservative for the second)."""
    rng = np.random.default_rng(1)
    beta, gamma, covered = 2.0, (0.0 if estimate == "capability" else 0.03), []
    runs_per_level, items, blocks, replicates = 3, 400, 40, 300
    level_of = np.repeat(np.arange(len(LEVELS)), runs_per_level)
    upper = np.triu_indices(len(level_of), k=1)
    block_of = np.arange(items) % blocks
    for study in range(150):
        accuracy = 0.6 + 0.05 * level_of + rng.normal(0, 0.02, len(level_of))
        effect = rng.normal(0, 0.03, len(level_of))
        values = (
            beta * (accuracy[upper[0]] + accuracy[upper[1]])[:, None] / 2
            + effect[upper[0], None]
            + effect[upper[1], None]
            + rng.normal(0, 0.5, (len(upper[0]), items))
        )
        per_block = np.stack([values[:, block_of == m].mean(1) for m in range(blocks)], axis=1)
        weights = rng.multinomial(blocks, np.full(blocks, 1 / blocks), size=replicates).astype(float)
        point = np.full((len(level_of),) * 2, np.nan)
        replicated = np.full((replicates, *point.shape), np.nan)
        point[upper] = point.T[upper] = per_block.mean(1)
        drawn = (weights @ per_block.T) / weights.sum(1, keepdims=True)
        replicated[:, upper[0], upper[1]] = replicated[:, upper[1], upper[0]] = drawn
        replicated_accuracy = accuracy[None] + rng.normal(0, 0.01, (replicates, len(level_of)))
        runs = [SimpleNamespace(name=f"r{i}") for i in range(len(level_of))]
        trend = trend_analysis(
            runs,
            "size",
            LEVELS[level_of],
            {"linear_cka": point},
            {"linear_cka": replicated},
            TaskMetric(accuracy, replicated_accuracy, "accuracy", 0.5),
            np.zeros((len(runs), 5), bool),
            replicates,
            study,
        )
        row = trend.trends.set_index("metric").loc["linear_cka"]
        if estimate == "capability":
            covered.append(row["capability_ci_low"] <= beta <= row["capability_ci_high"])
        else:
            covered.append(row["given_ci_low"] <= gamma <= row["given_ci_high"])
    assert 0.91 <= np.mean(covered) <= (0.99 if estimate == "capability" else 1.0), np.mean(covered)
