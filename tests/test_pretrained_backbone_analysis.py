"""The report's pretrained-backbone section on synthetic runs with a known truth: a pretrained arm
whose runs share errors, a random-init control whose runs do not (same accuracy), a probe arm that
is the frozen backbone, and fine-tuned runs that moved from it by known amounts."""

import numpy as np
import pandas as pd

from homogenization.analysis.make_report import make_report
from homogenization.analysis.runs.synthetic_runs import write_run
from homogenization.analysis.study import Settings

N, H, LAYERS = 600, 16, 3


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """The textbook formula (Kornblith et al. 2019), as an independent reference."""
    x, y = x - x.mean(0), y - y.mean(0)
    return float(np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


def write_study(root, rng):
    label = rng.integers(0, 2, N)
    backbone_layers = [rng.standard_normal((N, H)) for _ in range(LAYERS)]
    hard = rng.random(N) < 0.15                       # items the pretrained arm tends to get wrong together
    identity = {"name": "minilm", "sha256": "b" * 64, "weights_sha256": "c" * 64}
    drift = {}
    for seed in (1, 2):
        write_run(root / f"probe{seed}", label.copy(), label, backbone_layers[-1], model="bert_probe",
                  seed=seed, layers=backbone_layers,
                  backbone={**identity, "init": "pretrained", "finetune": "probe"})
    for seed, noise in zip((1, 2, 3, 4), (0.3, 0.6, 1.0, 1.5)):
        errors = np.where(hard, rng.random(N) < 0.8, rng.random(N) < 0.03)
        layers = [b + noise * (k + 1) / LAYERS * rng.standard_normal((N, H))
                  for k, b in enumerate(backbone_layers)]
        path = write_run(root / f"bert{seed}", np.where(errors, 1 - label, label), label, layers[-1],
                         model="bert", seed=seed, layers=layers,
                         backbone={**identity, "init": "pretrained", "finetune": "full"})
        drift[path.name] = [linear_cka(layers[k], backbone_layers[k]) for k in range(LAYERS)]
    error_rate = float(np.mean(np.where(hard, 0.8, 0.03)))
    for seed in (1, 2, 3, 4):
        errors = rng.random(N) < error_rate             # independent errors at the same accuracy
        layers = [rng.standard_normal((N, H)) for _ in range(LAYERS)]
        write_run(root / f"random{seed}", np.where(errors, 1 - label, label), label, layers[-1],
                  model="bert_random", seed=seed, layers=layers,
                  backbone={**identity, "sha256": "d" * 64, "init": "random", "finetune": "full"})
    return drift


def test_the_pretrained_arm_is_compared_with_its_random_init_control_and_its_backbone(tmp_path):
    drift = write_study(tmp_path / "runs", np.random.default_rng(0))
    make_report([str(tmp_path / "runs")], tmp_path / "report", ["model"], Settings(bootstrap=200, seed=0))
    out = tmp_path / "report"
    comparison = pd.read_csv(out / "pretraining.csv").set_index("metric")
    row = comparison.loc["error_consistency"]
    assert (row.pretrained, row.random_init, row.backbone) == ("bert", "bert_random", "minilm")
    assert row.pairs_pretrained == 6 and row.pairs_random_init == 6
    assert row.within_pretrained > 0.3 and abs(row.within_random_init) < 0.1
    assert row.ci_low > 0.2 and row.ci_low <= row.difference <= row.ci_high
    assert bool(row.accuracy_adjusted) and not bool(comparison.loc["linear_cka"].accuracy_adjusted)
    assert abs(row.task_metric_pretrained - row.task_metric_random_init) < 0.05

    table = pd.read_csv(out / "backbone_drift.csv")
    assert set(table.run) == set(drift)                     # fine-tuned runs only, every one
    for run, values in drift.items():
        found = table[table.run == run].sort_values("layer").linear_cka_to_backbone.to_numpy()
        np.testing.assert_allclose(found, values, atol=1e-3)  # float16 representations on disk
        assert (table[table.run == run].references == 2).all()
    closeness = pd.read_csv(out / "backbone_closeness.csv").iloc[0]
    assert closeness.group == "bert" and closeness.runs == 4 and closeness.pairs == 6
    report = (out / "report.md").read_text()
    assert "## Does a shared pretrained backbone make its fine-tuned models alike?" in report
    assert "## What the fine-tuned models keep of the backbone" in report


def test_without_a_probe_arm_the_report_says_what_to_add(tmp_path):
    write_study(tmp_path / "runs", np.random.default_rng(1))
    for seed in (1, 2):
        for path in (tmp_path / "runs" / f"probe{seed}").rglob("*"):
            if path.is_file():
                path.unlink()
    make_report([str(tmp_path / "runs")], tmp_path / "report", ["model"], Settings(bootstrap=50, seed=0))
    out = tmp_path / "report"
    assert not (out / "backbone_drift.csv").exists() and (out / "pretraining.csv").exists()
    assert "add a `model=bert_probe` arm" in (out / "report.md").read_text()


def test_the_arms_are_read_from_the_records_whatever_groups_the_grouping_makes(tmp_path):
    """The backbone study groups each random-init control on its own (study_backbone=random-seed<m>):
    the control arm is still all its runs, compared once, not once per group with no pairs."""
    write_study(tmp_path / "runs", np.random.default_rng(1))
    make_report([str(tmp_path / "runs")], tmp_path / "report", ["model", "seed"],
                Settings(bootstrap=50, seed=0))
    comparison = pd.read_csv(tmp_path / "report" / "pretraining.csv")
    assert comparison.metric.is_unique                 # one arm pair: one row per metric
    row = comparison.set_index("metric").loc["error_consistency"]
    assert row.pairs_pretrained == 6 and row.pairs_random_init == 6
    assert row.random_init.split(", ") == [f"bert_random,{seed}" for seed in (1, 2, 3, 4)]
    text = (tmp_path / "report" / "report.md").read_text()
    section = text.split("## Does a shared pretrained backbone")[1].split("\n## ")[0]
    assert section.count("| error consistency (κ_err) |") == 1


def test_an_arm_that_did_not_learn_is_named_before_its_comparison(tmp_path):
    rng = np.random.default_rng(2)
    write_study(tmp_path / "runs", rng)
    label = np.load(tmp_path / "runs" / "random1" / "predictions" / "test.npz")["label"]
    for seed in (1, 2, 3, 4):                            # the control predicts one label everywhere
        write_run(tmp_path / "runs" / f"random{seed}", np.zeros(N, dtype=int), label,
                  rng.standard_normal((N, H)), model="bert_random", seed=seed,
                  layers=[rng.standard_normal((N, H)) for _ in range(LAYERS)],
                  backbone={"name": "minilm", "sha256": "d" * 64, "init": "random", "finetune": "full"})
    make_report([str(tmp_path / "runs")], tmp_path / "report", ["model"], Settings(bootstrap=50, seed=0))
    section = (tmp_path / "report" / "report.md").read_text().split("## Does a shared pretrained backbone")[1]
    assert "**The random-init arm is near chance** (4 of 4 runs" in section.split("\n## ")[0]
    assert "pretrained arm is near chance" not in section
