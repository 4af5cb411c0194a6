"""A complete record is a guarantee: what a run records is what happened (docs/bad_input.md)."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from homogenization.core.errors import UserError
from homogenization.core.run_record import (
    RecordError,
    RunRecord,
    read_predictions,
    read_representations,
    read_run_json,
)
from homogenization.core.run_record import write_test_record as write_test_record_
from homogenization.training.recipe import train
from homogenization.training.resume import RunDirBusy, run_dir_lock
from tests.helpers import FAST, FAST_LABELLED_DATA, REPO_ROOT, SMALL_MODELS, compose_config, write_tsv

SMALL = [*SMALL_MODELS["cnn_lstm"]]


def cli(run_dir, tmp_path, *extra, timeout=600, env=None):
    command = [sys.executable, "scripts/train.py", f"hydra.run.dir={run_dir}",
               f"paths.cache_dir={tmp_path / 'cache'}", *FAST, *FAST_LABELLED_DATA, *SMALL, *extra]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


# -- resume only the same job ----------------------------------------------------------------------

def test_rerun_with_another_seed_is_refused_and_ckpt_null_starts_afresh(tmp_path):
    run_dir = tmp_path / "run"
    first = train(compose_config(run_dir, ["seed=1"]))
    assert first["status"] == "complete" and first["training"]["steps"] == 2
    with pytest.raises(UserError, match=r"ckpt_path=auto: .*last\.ckpt belongs to another job "
                                        r"\(seed \(1 -> 2\), seed_data \(1 -> 2\), seed_init \(1 -> 2\)\).*"
                                        r"hydra\.run\.dir=.*ckpt_path=null"):
        train(compose_config(run_dir, ["seed=2"]))
    assert read_run_json(run_dir)["seed"] == 1   # the earlier record is untouched

    (run_dir / "predictions" / "stale.npz").write_bytes(b"left by the seed-1 job")
    fresh = train(compose_config(run_dir, ["seed=2", "ckpt_path=null"]))
    assert fresh["seed"] == 2 and fresh["training"]["steps"] == 2   # trained, not resumed
    assert not (run_dir / "predictions" / "stale.npz").exists()
    reference = train(compose_config(tmp_path / "seed2", ["seed=2"]))
    np.testing.assert_array_equal(read_predictions(run_dir)["probs"],
                                  read_predictions(tmp_path / "seed2")["probs"])
    assert fresh["config_digest"] == reference["config_digest"] != first["config_digest"]


def test_changing_only_paths_and_loggers_still_resumes(tmp_path):
    run_dir = tmp_path / "run"
    train(compose_config(run_dir, []))
    again = train(compose_config(run_dir, ["logger=csv", "trainer.enable_progress_bar=true",
                                           f"paths.cache_dir={tmp_path / 'other_cache'}"]))
    assert again["status"] == "complete" and again["training"]["steps"] == 2


def test_one_job_per_run_directory(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with run_dir_lock(run_dir):
        busy = rf"{run_dir} is in use by another job \(pid {os.getpid()} on host"
        with pytest.raises(RunDirBusy, match=busy):
            train(compose_config(run_dir, []))
    assert not (run_dir / "run.json").exists()


def test_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    script = ("import sys, time\nfrom pathlib import Path\n"
              "from homogenization.training.resume import run_dir_lock\n"
              "with run_dir_lock(Path(sys.argv[1])):\n    print('locked', flush=True)\n    time.sleep(600)")
    holder = subprocess.Popen([sys.executable, "-c", script, str(run_dir)], cwd=REPO_ROOT,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(RunDirBusy, match=f"pid {holder.pid}"):
        with run_dir_lock(run_dir):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert f"pid {holder.pid}" in (run_dir / "run.lock").read_text()   # left behind by the dead job
    assert train(compose_config(run_dir, []))["status"] == "complete"


def test_concurrent_jobs_on_one_directory_one_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    jobs = [subprocess.Popen([sys.executable, "scripts/train.py", f"hydra.run.dir={run_dir}",
                              f"paths.cache_dir={tmp_path / 'cache'}", *FAST, *FAST_LABELLED_DATA, *SMALL,
                              f"seed={seed}"], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for seed in (1, 2)]
    outputs = [job.communicate(timeout=600)[0] for job in jobs]
    codes = [job.returncode for job in jobs]
    assert sorted(codes) == [0, 2], outputs
    refused = outputs[codes.index(2)]
    # Refused while the other job runs ("in use"), or, if it came after the other had finished,
    # because the directory's checkpoint belongs to another job (another seed): never both trained.
    assert ("is in use by another job" in refused or "belongs to another job" in refused), refused[-2000:]
    assert "Traceback" not in refused
    record = read_run_json(run_dir)
    assert record["status"] == "complete" and record["seed"] == (1, 2)[codes.index(0)]


# -- a test loop that did not cover the test split ---------------------------------------------------

@pytest.mark.parametrize("overrides", [["trainer.limit_test_batches=2", "data.eval_batch_size=64"],
                                       ["debug=limit", "data.eval_batch_size=64"]])
def test_cut_short_test_loop_is_partial_not_complete(tmp_path, overrides):
    run_dir = tmp_path / "run"
    record = train(compose_config(run_dir, overrides))
    assert record["status"] == "partial"
    expected = record["data"]["splits"]["test"]["units"]
    assert record["test"]["units_recorded"] < record["test"]["units_expected"] == expected
    assert "covered" in record["error"]


# -- truncation, overlap, tokenizer sanity ----------------------------------------------------------

def test_truncation_is_counted_and_a_length_with_no_room_for_text_refused(tmp_path, caplog):
    with pytest.raises(UserError, match=r"data\.max_length=1 leaves no room for text: the tokenizer adds 2"):
        train(compose_config(tmp_path / "one", ["data.max_length=1"]))
    record = train(compose_config(tmp_path / "eight", ["data.max_length=8"]))
    splits = record["data"]["splits"]
    assert splits["test"]["truncated"] > 0.5 * splits["test"]["size"]
    assert "test examples" in caplog.text and "truncated" in caplog.text
    full = train(compose_config(tmp_path / "full", ["data.max_length=512"]))
    assert full["data"]["splits"]["test"]["truncated"] == 0


def test_test_split_identical_to_train_is_refused_and_overlap_recorded(tmp_path):
    rows = [(f"text number {i} is {'good' if i % 2 else 'bad'}", str(i % 2)) for i in range(120)]
    train_file = write_tsv(tmp_path / "train.tsv", rows)
    dev = write_tsv(tmp_path / "dev.tsv", rows[:20])
    overrides = ["data=tsv", f"data.files.train={train_file}", f"data.files.dev={dev}"]
    with pytest.raises(UserError, match=r"test\.tsv: the test split is the training split"):
        same = write_tsv(tmp_path / "test.tsv", rows)
        train(compose_config(tmp_path / "same", [*overrides, f"data.files.test={same}"]))
    test = write_tsv(tmp_path / "held.tsv", rows[:10] + [(f"new text {i}", str(i % 2)) for i in range(30)])
    record = train(compose_config(tmp_path / "run", [*overrides, f"data.files.test={test}",
                                                     "data.max_train_examples=null"]))
    assert record["data"]["test_in_train"] == 10


def test_backbone_without_tokenizer_files_is_refused(tmp_path, tiny_bert):
    weights_only = tmp_path / "weights_only"
    weights_only.mkdir()
    for name in ("config.json", "model.safetensors"):
        (weights_only / name).write_bytes((tiny_bert / name).read_bytes())
    with pytest.raises(UserError, match=r"holds weights but no tokenizer.*tokenizer\.save_pretrained"):
        train(compose_config(tmp_path / "run", ["model=bert", f"backbone={weights_only}"]))


def test_corrupt_safetensors_is_named_malformed(tmp_path, tiny_bert):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for path in tiny_bert.iterdir():
        (corrupt / path.name).write_bytes(path.read_bytes())
    weights = corrupt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(UserError, match=r"model\.pretrained=.*corrupt: the checkpoint in this directory is "
                                        r"malformed"):
        train(compose_config(tmp_path / "run", ["model=bert", f"backbone={corrupt}"]))


# -- what write_test_record checks -------------------------------------------------------------------

def rows(n=6, width=4, scale=1.0):
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([1, 1], size=n).astype(np.float32)
    return {"example_id": np.arange(n), "label": rng.integers(0, 2, n), "pred": probs.argmax(1),
            "probs": probs, "representation": rng.normal(size=(n, width)).astype(np.float32) * scale}


def record():
    return RunRecord(status="complete", task="sequence_classification", labels=["neg", "pos"])


def test_representations_that_would_overflow_float16_are_stored_as_float32(tmp_path):
    small = write_test_record_(tmp_path / "a", record(), rows(), ("example_id",), 6)
    assert small.test["representation_dtype"] == "float16"
    large = rows(scale=1e5)
    written = write_test_record_(tmp_path / "b", record(), large, ("example_id",), 6)
    assert written.test["representation_dtype"] == "float32"
    np.testing.assert_array_equal(read_representations(tmp_path / "b"), large["representation"])


@pytest.mark.parametrize("fault, message", [
    ("nan_probs", "non-finite probabilities"), ("inf_representation", "representations are not finite"),
    ("probs_not_summing", "do not sum to 1"), ("pred_out_of_range", "predictions outside"),
])
def test_outputs_that_are_not_a_result_are_refused(tmp_path, fault, message):
    bad = rows()
    if fault == "nan_probs":
        bad["probs"][2] = np.nan
    elif fault == "inf_representation":
        bad["representation"][1, 0] = np.inf
    elif fault == "probs_not_summing":
        bad["probs"][0] = [0.2, 0.2]
    else:
        bad["pred"][0] = 5
    with pytest.raises(RecordError, match=message):
        write_test_record_(tmp_path, record(), bad, ("example_id",), 6)
    assert not (tmp_path / "run.json").exists()


# -- signals -------------------------------------------------------------------------------------------

STEPS, EPOCHS = 8, 2
LONGER = [f"trainer.max_epochs={EPOCHS}", f"trainer.limit_train_batches={STEPS}",
          "callbacks.resume_checkpoint.every_n_train_steps=3"]


@pytest.mark.parametrize("signal_name", ["SIGTERM", pytest.param("SIGINT", marks=pytest.mark.slow)])
def test_signal_during_training_saves_records_interrupted_and_resumes_bitwise(tmp_path, signal_name):
    reference = tmp_path / "uninterrupted"
    assert cli(reference, tmp_path, *LONGER).returncode == 0
    run_dir = tmp_path / "run"
    fault = ["+callbacks.signal._target_=tests.crash.SignalAtStep",
             f"+callbacks.signal.signal_name={signal_name}"]
    stopped = cli(run_dir, tmp_path, *LONGER, *fault, env={"FAULT_STEP": "5"})
    number = signal.Signals[signal_name]
    assert stopped.returncode == 128 + number, stopped.stderr[-3000:]
    assert "Traceback" not in stopped.stdout + stopped.stderr
    record = read_run_json(run_dir)
    assert record["status"] == "interrupted" and record["signal"] == signal_name
    assert record["training"]["steps"] == 6   # sent after step 5's check: taken at the end of step 6
    last = sorted(p.name for p in (run_dir / "checkpoints").glob("last*"))
    assert last == ["last.ckpt", "last.ckpt.sha256"]

    resumed = cli(run_dir, tmp_path, *LONGER, *fault)   # the same command
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert read_run_json(run_dir)["status"] == "complete"
    np.testing.assert_array_equal(read_predictions(run_dir)["probs"], read_predictions(reference)["probs"])


def test_sigterm_from_outside_during_training(tmp_path):
    run_dir = tmp_path / "run"
    job = subprocess.Popen([sys.executable, "scripts/train.py", f"hydra.run.dir={run_dir}",
                            f"paths.cache_dir={tmp_path / 'cache'}", *FAST, *FAST_LABELLED_DATA, *SMALL,
                            "trainer.max_epochs=50", "trainer.limit_train_batches=8"],
                           cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in job.stdout:
        if "epoch 0:" in line:
            job.send_signal(signal.SIGTERM)
            break
    output = job.stdout.read()
    assert job.wait(timeout=300) == 128 + signal.SIGTERM, output[-3000:]
    assert read_run_json(run_dir)["status"] == "interrupted"
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()


def test_only_one_last_checkpoint_and_it_is_the_newest(tmp_path):
    run_dir = tmp_path / "run"
    train(compose_config(run_dir, [*LONGER]))
    names = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert [n for n in names if n.startswith("last")] == ["last.ckpt", "last.ckpt.sha256"]   # and its digest
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["global_step"] == STEPS * EPOCHS


# -- config values: one line, before torch is imported -----------------------------------------------

@pytest.mark.parametrize("override, message", [
    ("seed=abc", r"seed='abc': a seed must be a whole number from 0 to 4294967295"),
    ("seed=-1", r"seed=-1: a seed must be a whole number"),
    ("seed=2**40", r"seed='2\*\*40': a seed must be a whole number"),
    ("seed=1099511627776", r"seed=1099511627776: a seed must be a whole number"),
    ("model.optimizer.lr=-1", r"model\.optimizer\.lr=-1: must be a positive finite number"),
    ("model.optimizer.lr=nan", r"model\.optimizer\.lr=nan: must be a positive finite number"),
    ("torch_threads=-2", r"torch_threads=-2: give a positive number of threads"),
    ("++trainer.max_epoch=1", r"trainer\.max_epoch: Trainer takes no argument 'max_epoch'; "
                              r"did you mean trainer\.max_epochs\?"),
    ("++model.encoder.hiden_size=8", r"model\.encoder\.hiden_size: CNNLSTMEncoder takes no argument"),
    ("data=hf", r"data\.dataset: no value given \(\?\?\? in the config\); set it"),
    ("data=tsv", r"data\.files\.test, data\.files\.train: no value given"),   # dev: null, carved from train
])
def test_bad_config_values_are_one_line(tmp_path, override, message):
    result = cli(tmp_path / "run", tmp_path, override, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-2000:]
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if "error:" in line]
    assert len(errors) == 1 and re.search(message, errors[0]), output[-2000:]
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"


# -- disk full while checkpointing --------------------------------------------------------------------

@pytest.fixture
def small_disk(small_disk_of):
    return small_disk_of("400k")


def test_disk_full_while_checkpointing_is_one_line(tmp_path, small_disk):
    run_dir = small_disk / "run"
    result = cli(run_dir, tmp_path, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert "no room on its disk to write this checkpoint" in output and "Traceback" not in output
    assert not list((run_dir / "checkpoints").glob(".*.tmp"))   # nothing half-written left behind


def test_sweep_lists_partial_jobs_without_failing_and_fails_on_interrupted(tmp_path):
    sweep = [sys.executable, "scripts/train.py", "-m", "seed=1", f"paths.cache_dir={tmp_path / 'cache'}",
             *FAST, *FAST_LABELLED_DATA, *SMALL]
    limited = subprocess.run([*sweep, f"hydra.sweep.dir={tmp_path / 'limited'}",
                              "trainer.limit_test_batches=1"],
                             cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    output = limited.stdout + limited.stderr
    assert limited.returncode == 0, output[-3000:]
    assert "1 of 1 jobs did not complete" in output
    assert "0-cnn_lstm-seed1: partial: the test loop covered" in output
    stopped = subprocess.run([*sweep, f"hydra.sweep.dir={tmp_path / 'stopped'}", *LONGER,
                              "+callbacks.signal._target_=tests.crash.SignalAtStep"], cwd=REPO_ROOT,
                             capture_output=True, text=True, timeout=600,
                             env={**os.environ, "FAULT_STEP": "3"})
    assert stopped.returncode == 128 + signal.SIGTERM, (stopped.stdout + stopped.stderr)[-3000:]
    assert read_run_json(tmp_path / "stopped" / "0-cnn_lstm-seed1")["status"] == "interrupted"


def test_another_jobs_results_without_a_checkpoint_are_not_deleted(tmp_path):
    run_dir = tmp_path / "run"
    train(compose_config(run_dir, ["seed=1"]))
    shutil.rmtree(run_dir / "checkpoints")   # e.g. a directory whose checkpoints were cleaned up
    with pytest.raises(UserError, match=r"ckpt_path=auto: .*run\.json belongs to another job \(seed "):
        train(compose_config(run_dir, ["seed=2"]))
    assert read_run_json(run_dir)["seed"] == 1 and (run_dir / "predictions" / "test.npz").is_file()
    assert train(compose_config(run_dir, ["seed=1"]))["status"] == "complete"   # the same job reruns


def test_a_failed_job_can_be_rerun_with_a_fixed_config(tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(UserError):
        train(compose_config(run_dir, ["data.bucket_batches=-1"]))
    from homogenization.training.failures import write_failed_record
    write_failed_record(run_dir, compose_config(run_dir, ["data.bucket_batches=-1"]), ValueError("bad"))
    assert read_run_json(run_dir)["status"] == "failed"
    assert train(compose_config(run_dir, ["data.bucket_batches=4"]))["status"] == "complete"
