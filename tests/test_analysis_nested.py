"""Nested groups (analysis.nest): within a backbone vs across backbones vs across architectures,
with a hierarchical multi-bootstrap, on synthetic records with a known nested structure."""

import json

import numpy as np
import pytest

from homogenization.analysis.make_report import make_report
from homogenization.analysis.metrics.agreement import error_pair_stats
from homogenization.analysis.runs.synthetic_runs import write_run
from homogenization.analysis.study import Settings
from homogenization.core.errors import UserError

UNITS = 2000


def errors_of(rng, backbone_hard, units):
    """A fine-tuned run: fails most of its backbone's hard units, and 8% of the others."""
    return (backbone_hard & (rng.random(units) < 0.85)) | (rng.random(units) < 0.08)


def population_truth(rng, units=20_000, backbones=40):
    """Expected error consistency within a backbone and across backbones, from a large sample."""
    hard = [rng.random(units) < 0.15 for _ in range(backbones)]
    runs = [errors_of(rng, h, units) for h in hard for _ in range(2)]
    errors = np.array(runs, dtype=float)
    stats = error_pair_stats(errors.mean(1), errors @ errors.T / units)["error_consistency"]
    same = np.repeat(np.arange(backbones), 2)
    within = stats[(same[:, None] == same[None, :]) & ~np.eye(len(runs), dtype=bool)].mean()
    across = stats[same[:, None] != same[None, :]].mean()
    return within, across


def study(tmp_path, rng):
    label = rng.integers(0, 2, UNITS)
    for backbone in range(4):
        hard = rng.random(UNITS) < 0.15
        for seed in range(3):
            wrong = errors_of(rng, hard, UNITS)
            write_run(tmp_path / f"ft-b{backbone}-s{seed}", np.where(wrong, 1 - label, label), label,
                      rng.normal(size=(UNITS, 4)), model="finetuned", seed=seed,
                      config={"backbone": f"/pretrain/seed{backbone}/pretrained"})
    for seed in range(3):   # from scratch: each run its own "backbone" (its own hard units)
        wrong = errors_of(rng, rng.random(UNITS) < 0.15, UNITS)
        write_run(tmp_path / f"scratch-s{seed}", np.where(wrong, 1 - label, label), label,
                  rng.normal(size=(UNITS, 4)), model="scratch", seed=seed,
                  config={"backbone": f"none-{seed}"})


def test_nested_intervals_cover_the_known_structure_and_flat_grouping_does_not(tmp_path):
    rng = np.random.default_rng(21)
    within_truth, across_truth = population_truth(rng)
    assert within_truth > across_truth + 0.3                 # the structure is strong
    study(tmp_path / "runs", rng)
    nested = make_report([str(tmp_path / "runs")], tmp_path / "nested", ["model", "backbone"],
                         Settings(bootstrap=400, nest="backbone", measures=[], knn_bootstrap=20)).nested
    consistency = nested["error_consistency"]
    low, high = consistency["within_backbone_ci"]
    assert low <= within_truth <= high
    low, high = consistency["across_backbones_ci"]
    assert low <= across_truth <= high
    assert consistency["backbone_effect_ci"][0] > 0         # a shared backbone homogenizes
    # 4 backbones x C(3,2) seeds; C(12,2) - 12 fine-tuned pairs + C(3,2) from-scratch pairs
    assert consistency["within_backbone_pairs"] == 12 and consistency["across_backbones_pairs"] == 57
    # Flat grouping calls the mix of within- and across-backbone pairs "within": it misses both.
    flat = make_report([str(tmp_path / "runs")], tmp_path / "flat", ["model"],
                       Settings(bootstrap=400, measures=[], knn_bootstrap=20)).headline["error_consistency"]
    assert not flat["within_ci"][0] <= within_truth <= flat["within_ci"][1]
    report = (tmp_path / "nested" / "report.md").read_text()
    assert "## Does a shared backbone homogenize?" in report
    assert json.loads((tmp_path / "nested" / "homogenization.json").read_text())["nested"]


def test_a_nested_key_outside_group_by_is_one_line(tmp_path):
    study(tmp_path / "runs", np.random.default_rng(1))
    with pytest.raises(UserError, match=r"nest=backbone: the nested key must be one of group_by \(model\)"):
        make_report([str(tmp_path / "runs")], tmp_path / "r", ["model"],
                    Settings(bootstrap=10, nest="backbone"))
