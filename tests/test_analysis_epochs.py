"""Homogenization over training: record.every_epoch writes each epoch's test predictions (the
best epoch's are the final ones, bitwise), and the analysis follows error consistency and CKA
over epochs and dates each systemic failure, on synthetic runs that homogenize as they train."""

import re

import numpy as np
import pandas as pd

from homogenization.analysis.make_report import make_report
from homogenization.analysis.runs.synthetic_runs import write_run
from homogenization.analysis.study import Settings
from homogenization.core.run_record import read_predictions, read_run_json
from homogenization.training.recipe import train
from tests.helpers import compose_config

N, EPOCHS = 400, 3


def test_every_epoch_records_the_test_predictions_of_each_epoch(tmp_path):
    run_dir = tmp_path / "run"
    record = train(compose_config(run_dir, ["record.every_epoch=true", "trainer.max_epochs=3"]))
    assert record["status"] == "complete" and record["test"]["epochs"] == [0, 1, 2]
    best = int(re.search(r"epoch(\d+)", record["checkpoint"]).group(1))
    final, at_best = read_predictions(run_dir), read_predictions(run_dir, f"test_epoch{best}")
    for name in ("example_id", "label", "pred", "probs"):
        np.testing.assert_array_equal(at_best[name], final[name])     # the same model, the same rows
    assert len(read_predictions(run_dir, "test_epoch0")["pred"]) == record["test"]["units_recorded"]
    assert read_run_json(run_dir)["test"]["epochs"] == [0, 1, 2]


def test_over_training_curves_and_when_units_became_systemic_failures(tmp_path):
    rng = np.random.default_rng(8)
    label = rng.integers(0, 2, N)
    shared_hard = rng.random(N) < 0.2
    for group in ("a", "b"):
        for seed in (1, 2, 3):
            epochs = []
            for epoch in range(EPOCHS):
                # group a: its runs' errors fall more and more on the shared hard units
                share = epoch / (EPOCHS - 1) if group == "a" else 0.0
                wrong = np.where(rng.random(N) < share, shared_hard, rng.random(N) < 0.2)
                wrong[:2] = epoch >= 1                      # units 0-1: every run fails them from epoch 1
                wrong[2] = epoch == 0                       # unit 2: only at epoch 0
                epochs.append((np.where(wrong, 1 - label, label), rng.normal(size=(N, 4))))
            write_run(tmp_path / f"{group}{seed}", epochs[-1][0], label, epochs[-1][1], model=group,
                      seed=seed, epochs=epochs)
    make_report([str(tmp_path)], tmp_path / "report", ["model"], Settings(bootstrap=100, knn_bootstrap=10))
    curves = pd.read_csv(tmp_path / "report" / "epochs.csv")
    within = curves[(curves.metric == "error_consistency") & (curves.side == "within")].sort_values("epoch")
    assert list(within.epoch) == [0, 1, 2] and (np.diff(within.value) > 0.1).all()
    assert ((within.ci_low <= within.value) & (within.value <= within.ci_high)).all()
    units = pd.read_csv(tmp_path / "report" / "units.csv")
    assert list(units.systemic_since_epoch[:2]) == [1, 1] and np.isnan(units.systemic_since_epoch[2])
    assert "## Over training" in (tmp_path / "report" / "report.md").read_text()
    assert (tmp_path / "report" / "figures" / "over_training.png").stat().st_size > 1000
