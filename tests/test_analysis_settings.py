"""Every statistic setting of the analysis is checked before any work, with one line naming the
key and what it means; the edge values that are allowed (no intervals, no k-NN replicates) work."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from homogenization.analysis.make_report import make_report
from homogenization.analysis.runs.synthetic_runs import noisy_copies, write_run
from homogenization.analysis.study import Settings
from homogenization.core.errors import UserError

N = 200


def study(tmp_path):
    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, N)
    for group in "ab":
        for seed, pred in zip((1, 2, 3), noisy_copies(label, 0.2, 3, rng)):
            write_run(tmp_path / "runs" / f"{group}{seed}", pred, label, rng.normal(size=(N, 8)), model=group,
                      seed=seed)
    return tmp_path / "runs"


@pytest.mark.parametrize("setting, value, words", [
    ("bootstrap", 1, "0 or at least 2"), ("bootstrap", -5, "0 or at least 2"),
    ("bootstrap", 2.5, "a whole number"), ("blocks", 1, "at least 2"), ("blocks", 0, "at least 2"),
    ("knn_k", 0, "at least 1"), ("seed", -1, "at least 0"), ("knn_bootstrap", -1, "0 or at least 2"),
    ("knn_bootstrap", 1, "0 or at least 2"),
    ("knn_max_units", 1, "at least 2"), ("bootstrap", True, "a whole number"), ("unit", "token", "'entity'"),
])
def test_a_wrong_setting_is_one_line_naming_it(setting, value, words):
    with pytest.raises(UserError, match=words) as error:
        Settings(**{setting: value})
    assert f"analysis.{setting}" in str(error.value) and "\n" not in str(error.value)


def test_the_command_refuses_a_setting_before_reading_any_run(tmp_path):
    done = subprocess.run([sys.executable, "-m", "homogenization.cli.analyze", f"runs={tmp_path / 'none'}",
                           "bootstrap=1"], capture_output=True, text=True)
    assert done.returncode == 2 and "analysis.bootstrap=1" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_knn_k_as_large_as_the_units_is_refused(tmp_path):
    with pytest.raises(UserError, match=r"analysis.knn_k=199: mutual k-NN on 200 units"):
        make_report([str(study(tmp_path))], tmp_path / "report", ["model"], Settings(bootstrap=10, knn_k=199))


def test_no_intervals_and_no_knn_replicates_work_and_the_point_estimates_do_not_move(tmp_path):
    runs = study(tmp_path)
    found = {}
    for bootstrap, knn_bootstrap in ((0, 0), (10, 0), (10, 3), (20, 10)):
        out = tmp_path / f"report{bootstrap}-{knn_bootstrap}"
        analysis = make_report([str(runs)], out, ["model"],
                               Settings(bootstrap=bootstrap, knn_bootstrap=knn_bootstrap))
        found[(bootstrap, knn_bootstrap)] = pd.read_csv(out / "pairs.csv")
        knn = analysis.headline["mutual_knn"]
        assert np.isnan(knn["within_ci"]).all() == (knn_bootstrap == 0)
        assert np.isnan(analysis.headline["error_consistency"]["within_ci"]).all() == (bootstrap == 0)
        if bootstrap == 0:
            assert "No intervals: analysis.bootstrap=0" in (out / "report.md").read_text()
            assert "near chance" not in pd.read_csv(out / "runs.csv")["flags"].fillna("").str.cat()
    reference = found[(0, 0)]
    for pairs in found.values():
        pd.testing.assert_frame_equal(pairs, reference, atol=1e-6)   # CKA without blocks: float32 sums
