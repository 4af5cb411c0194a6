"""A full disk anywhere the project writes, and a stop signal at any phase of a command: one line
naming the file (or the phase) and the fix, nothing half-written, and a record where there is a
job to record. The disks are real small tmpfs mounts filled with a real file."""

import logging
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from homogenization.analysis.runs.synthetic_runs import noisy_copies, write_run
from homogenization.core.run_record import read_run_json
from homogenization.core.signals import Stopped, StopSignals
from homogenization.training.recipe import train
from tests.crash import fill_disk
from tests.helpers import FAST, FAST_LABELLED_DATA, REPO_ROOT, SMALL_MODELS, compose_config

TRAIN = [sys.executable, "scripts/train.py"]
ANALYZE = [sys.executable, "scripts/analyze.py"]


def output_of(result) -> str:
    return result.stdout + result.stderr


def hidden_leftovers(folder):
    """Staged files and folders (``.<name>.*``) a write left behind."""
    return [p for p in folder.rglob(".*") if p.name not in (".hydra",) and ".hydra" not in p.parts]


def test_a_full_disk_while_writing_test_predictions_is_one_line_and_the_same_command_finishes(
        tmp_path, small_disk_of):
    disk = small_disk_of("30m")
    run_dir = disk / "run"
    command = [*TRAIN, f"hydra.run.dir={run_dir}", f"paths.cache_dir={tmp_path / 'cache'}", *FAST,
               *FAST_LABELLED_DATA, *SMALL_MODELS["cnn_lstm"],
               "+callbacks.fill._target_=tests.crash.FillDiskAtTest"]
    full = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "FILL_DISK_AT_TEST": str(disk)})
    output = output_of(full)
    assert full.returncode == 2, output[-3000:]
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if "error:" in line]
    assert len(errors) == 1, output[-3000:]
    assert f"{run_dir}/predictions/test.npz: no room on its disk to write this file (0 MB free)" in errors[0]
    assert "Nothing was half-written" in errors[0]
    assert not (run_dir / "predictions" / "test.npz").exists()
    assert not hidden_leftovers(run_dir / "predictions")

    (disk / "filler").unlink()                       # space freed: the same command goes on
    again = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, output_of(again)[-3000:]
    assert "Resuming from" in output_of(again)   # trained once: the second attempt only tests
    assert read_run_json(run_dir)["status"] == "complete"


def test_a_full_token_cache_disk_is_a_warning_and_the_run_completes(tmp_path, small_disk_of, caplog):
    cache = small_disk_of("1m", "cache_disk")
    fill_disk(str(cache))
    record = train(compose_config(tmp_path / "run", [], cache_dir=cache))
    assert record["status"] == "complete"
    assert "no room on its disk for the token cache" in caplog.text
    assert not [p for p in cache.iterdir() if p.is_dir()]   # no half-written entry


def synthetic_study(root, runs=6, units=1500, width=32):
    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, units)
    for seed, pred in enumerate(noisy_copies(label, 0.3, runs, rng), start=1):
        write_run(root / f"run{seed}", pred, label, rng.normal(size=(units, width)).astype(np.float32),
                  model="a" if seed % 2 else "b", seed=seed)
    return root


@pytest.mark.parametrize("full", ["out", "work_dir"])
def test_a_full_disk_while_writing_the_report_or_its_working_array_is_one_line(tmp_path, small_disk_of,
                                                                               full):
    runs = synthetic_study(tmp_path / "runs")
    disk = small_disk_of("2m")
    fill_disk(str(disk))
    out = disk / "report" if full == "out" else tmp_path / "report"
    work = tmp_path / "work" if full == "out" else disk / "work"
    result = subprocess.run([*ANALYZE, f"runs={runs}", f"out={out}", "bootstrap=20", f"work_dir={work}"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    output = output_of(result)
    assert result.returncode == 2, output[-3000:]
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if "error:" in line]
    assert len(errors) == 1, output[-3000:]
    if full == "out":
        assert f"{out}: no room on its disk to write the report" in errors[0]
        assert "an earlier report there is intact" in errors[0]
    else:
        assert "no room on its disk to write CKA's working array" in errors[0]
        assert "analysis.work_dir" in errors[0]
    assert not out.exists() and not hidden_leftovers(out.parent)


def test_a_signal_while_testing_gives_an_interrupted_record_naming_the_phase(tmp_path):
    run_dir = tmp_path / "run"
    overrides = ["+callbacks.signal._target_=tests.crash.SignalAtTest"]
    with pytest.raises(Stopped, match="SIGTERM received while testing: stopped at once"):
        train(compose_config(run_dir, overrides))
    record = read_run_json(run_dir)
    assert record["status"] == "interrupted" and record["signal"] == "SIGTERM"
    assert "while testing" in record["error"]
    assert not (run_dir / "predictions" / "test.npz").exists()
    assert train(compose_config(run_dir, overrides))["status"] == "complete"   # the same job goes on


def test_a_signal_inside_code_that_catches_every_exception_still_stops(capsys):
    """A signal lands in whatever code runs, e.g. a logging handler writing the line a scheduler
    (or sigterm_when_logged) reacted to. Logging catches every Exception there, prints "Logging
    error" and goes on: the stop must not be one."""
    class SignalledWhileWriting(logging.StreamHandler):
        def flush(self):
            super().flush()
            os.kill(os.getpid(), signal.SIGTERM)
            sum(range(100_000))   # the handler runs here, inside the handler's try

    logger = logging.getLogger("tests.signal_in_handler")
    logger.addHandler(SignalledWhileWriting(sys.stderr))
    try:
        with pytest.raises(Stopped, match="SIGTERM received while tokenizing"), StopSignals("tokenizing"):
            logger.warning("Tokenizing")
    finally:
        logger.handlers.clear()
    assert "Logging error" not in capsys.readouterr().err


def sigterm_when_logged(command: list[str], text: str) -> tuple[int, str]:
    """Run ``command``, send it SIGTERM when a line holding ``text`` is logged; (status, output)."""
    job = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    for line in job.stdout:
        if text in line:
            job.send_signal(signal.SIGTERM)
            break
    output = job.stdout.read()
    return job.wait(timeout=300), output


def test_a_signal_while_tokenizing_gives_a_record_and_one_line(tmp_path, data_dir):
    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    command = [*TRAIN, f"hydra.run.dir={run_dir}", f"paths.cache_dir={cache}", "data=sst2",
               *SMALL_MODELS["cnn_lstm"]]
    status, output = sigterm_when_logged(command, "Tokenizing sst2")
    assert status == 128 + signal.SIGTERM, output[-3000:]
    assert "Traceback" not in output
    assert "interrupted: SIGTERM received while reading and tokenizing the data" in output
    record = read_run_json(run_dir)
    assert record["status"] == "interrupted" and record["signal"] == "SIGTERM"
    assert record["config"]["data"]["name"] == "sst2"
    assert not [p for p in cache.iterdir() if p.is_dir()]   # no half-built cache entry


def test_a_signal_during_the_analysis_leaves_nothing_and_says_so(tmp_path):
    runs = synthetic_study(tmp_path / "runs", runs=12, units=4000, width=64)
    out = tmp_path / "report"
    status, output = sigterm_when_logged([*ANALYZE, f"runs={runs}", f"out={out}", "bootstrap=2000"],
                                         "Analyzing 12 runs")
    assert status == 128 + signal.SIGTERM, output[-3000:]
    assert ("interrupted: SIGTERM received while analysing the runs: stopped at once; nothing was written"
            in output)
    assert "Traceback" not in output
    assert not out.exists() and not hidden_leftovers(tmp_path)
