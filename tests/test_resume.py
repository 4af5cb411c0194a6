"""A run killed (SIGKILL) mid-epoch and resumed ends bitwise identical to an uninterrupted run."""

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from homogenization.core.run_record import read_predictions, read_representations, read_run_json
from tests.helpers import FAST, FAST_LABELLED_DATA, REPO_ROOT, SMALL_MODELS

STEPS_PER_EPOCH, EPOCHS = 8, 3


FAULT = "+callbacks.crash._target_=tests.crash.KillAtStep"   # kills at $FAULT_STEP, if set


def train(run_dir, tmp_path, *extra, env=None):
    command = [sys.executable, "scripts/train.py", f"hydra.run.dir={run_dir}",
               f"paths.cache_dir={tmp_path / 'cache'}", *FAST, *FAST_LABELLED_DATA, *SMALL_MODELS["cnn_lstm"],
               f"trainer.max_epochs={EPOCHS}", f"trainer.limit_train_batches={STEPS_PER_EPOCH}",
               "callbacks.resume_checkpoint.every_n_train_steps=3", *extra]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


def test_sigkill_mid_epoch_then_resume_is_bitwise_identical(tmp_path):
    reference = tmp_path / "uninterrupted"
    assert train(reference, tmp_path).returncode == 0

    # A step in the middle of epoch 1 or 2 (never its last), that no checkpoint was written at.
    step = random.choice([s for s in range(STEPS_PER_EPOCH + 1, EPOCHS * STEPS_PER_EPOCH)
                          if s % STEPS_PER_EPOCH and s % 3])
    crashed = tmp_path / "crashed"
    killed = train(crashed, tmp_path, FAULT, env={"FAULT_STEP": str(step)})
    assert killed.returncode == -signal.SIGKILL, f"step {step}: {killed.stderr[-2000:]}"
    assert not (crashed / "run.json").exists() and (crashed / "checkpoints" / "last.ckpt").is_file()

    resumed = train(crashed, tmp_path, FAULT)   # the same command, in the same run directory
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming from" in resumed.stdout + resumed.stderr
    assert "not resumable" not in resumed.stdout + resumed.stderr   # Lightning's warning is not true here
    for name in ("pred", "probs"):
        np.testing.assert_array_equal(read_predictions(crashed)[name], read_predictions(reference)[name],
                                      err_msg=f"killed at step {step}")
    np.testing.assert_array_equal(read_representations(crashed), read_representations(reference))
    assert read_run_json(crashed)["training"]["steps"] == EPOCHS * STEPS_PER_EPOCH


BY_LOSS = ["callbacks.model_checkpoint.monitor=val/loss", "callbacks.model_checkpoint.mode=min",
           "trainer.limit_val_batches=1"]   # a score that moves every epoch: the best changes


def best_files(run_dir):
    return sorted(path.name for path in (run_dir / "checkpoints").glob("best-*.ckpt"))


# slow: test_sigkill_mid_epoch_then_resume_is_bitwise_identical keeps resuming in the default run
@pytest.mark.parametrize("where", [
    pytest.param("between an epoch's checkpoints", marks=pytest.mark.slow),
    pytest.param("at the first step after them", marks=pytest.mark.slow)])
def test_a_kill_around_an_epochs_checkpoints_resumes_to_the_same_best_checkpoint(tmp_path, where):
    """last.ckpt holds the best checkpoint's path and score of its own step: the resumed job keeps
    the same best, tests it, and leaves no second best on disk."""
    reference = tmp_path / "uninterrupted"
    assert train(reference, tmp_path, *BY_LOSS).returncode == 0
    crashed = tmp_path / "crashed"
    if where == "between an epoch's checkpoints":
        fault, env = "+callbacks.crash._target_=tests.crash.KillBetweenEpochCheckpoints", {"FAULT_EPOCH": "1"}
    else:   # step 9 is the first of epoch 2: killed before its last.ckpt, epoch 1's is resumed
        fault, env = FAULT, {"FAULT_STEP": str(STEPS_PER_EPOCH + 1)}
    killed = train(crashed, tmp_path, *BY_LOSS, fault, env=env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    state = torch.load(crashed / "checkpoints" / "last.ckpt", weights_only=True)
    saved_best = next(value["best_model_path"] for key, value in state["callbacks"].items()
                      if key.startswith("ModelCheckpoint"))
    if where == "at the first step after them":        # epoch 1's last.ckpt knows epoch 1's best
        assert Path(saved_best).name == best_files(crashed)[-1]
    resumed = train(crashed, tmp_path, *BY_LOSS, fault)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert best_files(crashed) == best_files(reference) and len(best_files(reference)) == 1
    for name in ("pred", "probs"):
        np.testing.assert_array_equal(read_predictions(crashed)[name], read_predictions(reference)[name])


def test_a_damaged_last_checkpoint_is_one_line_before_anything_is_restored(tmp_path):
    """4 kB overwritten inside last.ckpt (a tensor's bytes: torch.load would not notice)."""
    crashed = tmp_path / "crashed"
    killed = train(crashed, tmp_path, FAULT, env={"FAULT_STEP": str(STEPS_PER_EPOCH + 2)})
    assert killed.returncode == -signal.SIGKILL
    last = crashed / "checkpoints" / "last.ckpt"
    data = bytearray(last.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4096] = os.urandom(4096)
    last.write_bytes(bytes(data))
    resumed = train(crashed, tmp_path, FAULT)
    output = resumed.stdout + resumed.stderr
    assert resumed.returncode == 2                          # a user's error: one line, no traceback
    lines = [line for line in output.splitlines() if "damaged" in line]
    assert len(lines) == 1 and "last.ckpt: this checkpoint is damaged" in lines[0]
    assert "ckpt_path=null" in lines[0] and "Traceback" not in output
    assert "Restored all states" not in output
