"""A run killed (SIGKILL) mid-epoch and resumed ends bitwise identical to an uninterrupted run."""

import os
import random
import signal
import subprocess
import sys

import numpy as np

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
    for name in ("pred", "probs"):
        np.testing.assert_array_equal(read_predictions(crashed)[name], read_predictions(reference)[name],
                                      err_msg=f"killed at step {step}")
    np.testing.assert_array_equal(read_representations(crashed), read_representations(reference))
    assert read_run_json(crashed)["training"]["steps"] == EPOCHS * STEPS_PER_EPOCH
