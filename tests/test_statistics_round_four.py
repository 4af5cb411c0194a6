"""Statistics a reviewer accepts: a headline that never goes blank without a reason."""

import json

import numpy as np
import pytest

from homogenization.analysis.make_report import make_report
from homogenization.analysis.runs.synthetic_runs import write_run
from homogenization.analysis.study import Settings

N = 300


def runs(root, models: list[str], seeds: int, rng) -> None:
    label = rng.integers(0, 2, N)
    hard = rng.random(N) < 0.2
    for model in models:
        for seed in range(1, seeds + 1):
            wrong = np.where(hard, rng.random(N) < 0.7, rng.random(N) < 0.1)
            write_run(root / f"{model}-{seed}", np.where(wrong, 1 - label, label), label,
                      rng.normal(size=(N, 6)), model=model, seed=seed)


@pytest.mark.parametrize("models, seeds, reason", [
    (["subject-a", "subject-b", "subject-c", "subject-d"], 1,
     "Every group holds one run (4 groups of 4 runs)"),
    (["only"], 4, "All 4 runs are in one group (only)"),
])
def test_a_grouping_without_one_side_gives_the_pooled_value_and_says_why(tmp_path, models, seeds, reason):
    runs(tmp_path / "runs", models, seeds, np.random.default_rng(0))
    analysis = make_report([str(tmp_path / "runs")], tmp_path / "report", ["model"],
                           Settings(bootstrap=100, knn_bootstrap=0))
    report = (tmp_path / "report" / "report.md").read_text()
    headline = report.split("## Headline")[1].split("\n## ")[0]
    assert "**No within/across comparison.**" in headline and reason in headline
    entry = analysis.headline["error_consistency"]
    upper = np.triu_indices(4, k=1)
    import pandas as pd
    pairs = pd.read_csv(tmp_path / "report" / "pairs.csv")
    assert entry["pooled"] == pytest.approx(pairs.error_consistency.mean())       # the mean over pairs
    assert entry["pooled_ci"][0] < entry["pooled"] < entry["pooled_ci"][1]
    assert entry["pooled_pairs"] == len(upper[0])
    rows = [line for line in headline.splitlines() if line.startswith("| ") and "metric" not in line]
    assert f"| error consistency (κ_err) | {entry['pooled']:.3f} [" in headline
    assert rows and not any(row.split(" | ")[1].startswith("n/a") for row in rows)   # a value in every row
    figure = tmp_path / "report" / "figures" / "headline.png"
    assert figure.stat().st_size > 0
    summary = json.loads((tmp_path / "report" / "homogenization.json").read_text())
    assert summary["headline"]["error_consistency"]["pooled_pairs"] == 6


def test_a_grouping_with_both_sides_keeps_its_within_across_table(tmp_path):
    runs(tmp_path / "runs", ["a", "b"], 3, np.random.default_rng(1))
    make_report([str(tmp_path / "runs")], tmp_path / "report", ["model"],
                Settings(bootstrap=50, knn_bootstrap=0))
    report = (tmp_path / "report" / "report.md").read_text()
    assert "No within/across comparison" not in report and "| within groups | across groups |" in report


def test_an_imbalanced_factor_that_changes_nothing_is_not_called_a_confound(tmp_path):
    """Only the architecture makes runs agree; seed_data is shared by more across than within pairs
    (as in a models x seeds sweep) but sharing it changes nothing: "imbalanced, no effect resolved",
    with its estimate and interval, never "Confound"."""
    from homogenization.analysis.runs.synthetic_runs import write_factorial_study

    write_factorial_study(tmp_path / "runs", {"model.name": ["cnn", "tr"], "seed_data": [1, 2, 3]},
                          {"model.name": 0.5}, 3000, 0.2, np.random.default_rng(0))
    make_report([str(tmp_path / "runs")], tmp_path / "report", ["model.name"],
                Settings(bootstrap=100, knn_bootstrap=0))
    report = (tmp_path / "report" / "report.md").read_text()
    assert "Confound: seed_data" not in report
    assert "**seed_data is imbalanced, no effect resolved** (shared by 3 of 9 across pairs and 0 of 6 " \
           "within pairs; sharing it changes κ_err by " in report


def test_same_wrong_label_has_its_chance_from_the_runs_own_wrong_answers(tmp_path):
    """Two runs with independent errors that both favour one wrong label: same-wrong agreement is
    far above 1/(labels - 1), and its chance from the data (sum of q_a q_b) is what it should be
    compared with; the two agree within sampling error."""
    rng = np.random.default_rng(3)
    n, labels = 20000, ("a", "b", "c", "d")
    gold = rng.integers(0, 4, n)
    favoured = np.array([0.75, 0.125, 0.125])          # over the three wrong labels, the same for both
    for seed in (1, 2):
        wrong = rng.random(n) < 0.3
        offset = 1 + rng.choice(3, size=n, p=favoured)
        pred = np.where(wrong, (gold + offset) % 4, gold)
        write_run(tmp_path / "runs" / f"r{seed}", pred, gold, rng.normal(size=(n, 4)), seed=seed,
                  labels=labels)
    make_report([str(tmp_path / "runs")], tmp_path / "report", ["model"],
                Settings(bootstrap=0, knn_bootstrap=0))
    import pandas as pd
    pair = pd.read_csv(tmp_path / "report" / "pairs.csv").iloc[0]
    truth = float((favoured**2).sum())                 # 0.594, where 1/(labels - 1) = 0.333
    assert pair.same_wrong_chance == pytest.approx(truth, abs=0.01)
    assert pair.same_wrong == pytest.approx(pair.same_wrong_chance, abs=0.03)
    report = (tmp_path / "report" / "report.md").read_text()
    assert "same wrong label by chance" in report


def test_agreement_that_is_shared_class_bias_is_said(tmp_path):
    """Near-chance runs whose agreement comes from leaning to the same label: pairs.csv gives each
    pair's label-rate gap, and the report says the agreement is mostly class bias."""
    import pandas as pd

    rng = np.random.default_rng(5)
    label = rng.integers(0, 2, 2000)
    for seed, lean in enumerate((0.5, 0.6, 0.7, 0.8, 0.9, 0.95), start=1):   # P(predict positive)
        pred = (rng.random(2000) < lean).astype(int)                           # knows nothing of the text
        write_run(tmp_path / "runs" / f"r{seed}", pred, label, rng.normal(size=(2000, 4)), model="m",
                  seed=seed)
    make_report([str(tmp_path / "runs")], tmp_path / "report", ["model"],
                Settings(bootstrap=20, knn_bootstrap=0))
    pairs = pd.read_csv(tmp_path / "report" / "pairs.csv")
    first = pairs.iloc[0]
    a, b = (np.load(tmp_path / "runs" / name / "predictions" / "test.npz")["pred"]
            for name in (first.run_a, first.run_b))
    assert first.label_gap == pytest.approx(abs(a.mean() - b.mean()))       # total variation, two labels
    report = (tmp_path / "report" / "report.md").read_text()
    assert "**Class bias.**" in report and "much of this agreement is shared class bias" in report


def test_the_report_quotes_the_intervals_calibration_from_the_benchmarks_output(tmp_path, monkeypatch):
    """No coverage figure is typed into the report's prose: it is read from analysis/calibration.csv
    (written by benchmarks/attribution_coverage.py and trend_coverage.py), and a regime whose
    coverage falls outside 0.93-0.97 is named with the way it errs."""
    import pandas as pd

    from homogenization.analysis import calibration
    from homogenization.analysis.runs.synthetic_runs import write_factorial_study

    shipped = pd.read_csv(calibration.CALIBRATION_FILE)
    assert {"attribution", "trend"} <= set(shipped.interval)
    assert set(shipped[shipped.interval == "attribution"].levels) >= {3, 5}
    table = pd.DataFrame([
        {"interval": "attribution", "levels": 3, "spread": 0.0, "factor": "a", "regime": "no effect (null)",
         "studies": 123, "truth": 0.0, "mean_estimate": 0.0, "coverage": 0.951, "width_vs_spread": 2.0,
         "median_width_vs_spread": 1.9},
        {"interval": "attribution", "levels": 3, "spread": 0.0, "factor": "b", "regime": "strong, equal",
         "studies": 321, "truth": 0.1, "mean_estimate": 0.1, "coverage": 0.912, "width_vs_spread": 1.5,
         "median_width_vs_spread": 1.4}])
    monkeypatch.setattr(calibration, "CALIBRATION_FILE", tmp_path / "calibration.csv")
    table.to_csv(tmp_path / "calibration.csv", index=False)
    write_factorial_study(tmp_path / "runs", {"model.name": [0, 1, 2], "seed_init": [0, 1, 2]},
                          {"model.name": 0.1, "seed_init": 0.1}, 300, 0.2, np.random.default_rng(0))
    make_report([str(tmp_path / "runs")], tmp_path / "report", ["model"], Settings(bootstrap=20))
    text = (tmp_path / "report" / "report.md").read_text()
    assert "2 settings, 123–321 studies each, 3 levels) the 95% interval covered 0.912–0.951" in text
    assert "Outside 0.93–0.97: strong, equal at 3 levels: 0.912 (too narrow)." in text
