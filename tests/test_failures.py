"""Failing jobs: recorded as failed, the rest of the sweep runs, the sweep says so and exits 1."""

import subprocess
import sys

from homogenization.core.run_record import read_run_json
from tests.helpers import FAST, FAST_LABELLED_DATA, REPO_ROOT, SMALL_MODELS


def test_a_diverging_job_is_recorded_as_failed_and_the_sweep_goes_on(tmp_path):
    sweep_dir = tmp_path / "sweep"
    command = [sys.executable, "scripts/train.py", "-m", "model.optimizer.lr=1e30,1e-3",
               "trainer.gradient_clip_val=null", "experiment=demo", "model=cnn_lstm",
               "seed=1", "hydra.callbacks.homogenization_report.bootstrap=50",
               f"hydra.sweep.dir={sweep_dir}", f"paths.cache_dir={tmp_path / 'cache'}",
               *FAST, "trainer.limit_train_batches=3", *FAST_LABELLED_DATA, *SMALL_MODELS["cnn_lstm"]]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]

    diverged = read_run_json(sweep_dir / "0-cnn_lstm-seed1")
    healthy = read_run_json(sweep_dir / "1-cnn_lstm-seed1")
    assert diverged["status"] == "failed"
    assert diverged["error"].startswith("TrainingDiverged: the training loss became nan")
    assert healthy["status"] == "complete"
    assert "1 of 2 jobs did not complete" in output and "0-cnn_lstm-seed1: failed: TrainingDiverged" in output
    assert "Traceback" not in output
    # The end-of-sweep analysis ran: with one complete run it has nothing to compare, and says so.
    assert "needs at least 2" in output


def test_a_single_failing_run_exits_non_zero_with_a_failed_record(tmp_path):
    run_dir = tmp_path / "run"
    command = [sys.executable, "scripts/train.py", "model.optimizer.lr=1e30",
               "trainer.gradient_clip_val=null", f"hydra.run.dir={run_dir}",
               f"paths.cache_dir={tmp_path / 'cache'}", *FAST,
               "trainer.limit_train_batches=3", *FAST_LABELLED_DATA, *SMALL_MODELS["cnn_lstm"]]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1
    assert read_run_json(run_dir)["status"] == "failed"
    assert not (run_dir / "predictions").exists()
