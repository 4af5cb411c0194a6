"""Sweeps through a real SLURM scheduler (a single-node cluster started for these tests, see
tests/slurm_cluster.py): submission with the shipped launcher settings, pre-emption by SIGUSR2,
`scontrol requeue`, `scancel`, DDP across SLURM tasks, and W&B continuity across requeues.

To signal a job at a known point of training, the jobs hold after step 5 (tests/crash.py
PauseAtStep) until a signal arrives or the test releases them; the signals, requeues and resumes
are the scheduler's own.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from homogenization.core.run_record import read_predictions, read_run_json
from homogenization.training.recipe import train
from tests.helpers import REPO_ROOT, SMALL_MODELS, compose_config
from tests.slurm_cluster import LocalSlurm
from tests.wandb_records import records

REASON = LocalSlurm.why_not()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"no SLURM cluster here: {REASON}")

# 2 epochs of 8 steps, last.ckpt every 3 steps, one thread: what the reference run also does.
TRAINING = ["trainer.max_epochs=2", "trainer.limit_train_batches=8", "trainer.limit_val_batches=1",
            "trainer.num_sanity_val_steps=0", "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false", "callbacks.progress_bar=null",
            "callbacks.resume_checkpoint.every_n_train_steps=3", "data.max_train_examples=300",
            "data.batch_size=16", "torch_threads=1", *SMALL_MODELS["cnn_lstm"]]
PAUSE = ["+callbacks.pause._target_=tests.crash.PauseAtStep", "+callbacks.pause.dirpath=${paths.output_dir}",
         "+callbacks.pause.step=5", "+callbacks.pause.seconds=240"]
QUICK_WAIT = ["hydra.launcher.poll_s=1", "hydra.launcher.grace_s=5"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    slurm = LocalSlurm(tmp_path_factory.mktemp("slurm"))
    slurm.start()
    yield slurm
    slurm.stop()


def sweep(cluster: LocalSlurm, sweep_dir: Path, cache: Path, *overrides: str) -> subprocess.Popen:
    command = [sys.executable, "scripts/train.py", "-m", "hydra/launcher=slurm",
               f"hydra.sweep.dir={sweep_dir}", f"paths.cache_dir={cache}", *TRAINING, *overrides]
    log = open(sweep_dir.parent / f"{sweep_dir.name}.log", "w")
    return subprocess.Popen(command, cwd=REPO_ROOT, env={**cluster.env, "WANDB_MODE": "offline"},
                            stdout=log, stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen, sweep_dir: Path, timeout: float = 420) -> tuple[int, str]:
    code = process.wait(timeout=timeout)
    return code, (sweep_dir.parent / f"{sweep_dir.name}.log").read_text()


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def job_of(cluster: LocalSlurm, states=("RUNNING",)) -> str:
    return wait_for(lambda: next((job for job, state in cluster.jobs().items() if state in states), None),
                    120, f"a job in state {states}")


def release_requeued(cluster: LocalSlurm, job: str, process: subprocess.Popen) -> int:
    """Start a requeued job now instead of after SLURM's hold (about 120 s); returns how often."""
    released = 0
    while process.poll() is None:
        if cluster.jobs().get(job) == "PENDING":
            cluster.command("scontrol", "update", f"jobid={job}", "StartTime=now")
            released += 1
            time.sleep(3)
        time.sleep(0.5)
    return released


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same training, uninterrupted, in this process; its tokenizer cache is shared."""
    root = tmp_path_factory.mktemp("reference")
    record = train(compose_config(root / "run", [*TRAINING, "seed=1"], cache_dir=root / "cache", fast=False))
    assert record["status"] == "complete"
    return root


def test_a_two_job_sweep_with_the_shipped_launcher_settings(tmp_path, cluster, reference):
    sweep_dir = tmp_path / "sweep"
    code, output = finish(sweep(cluster, sweep_dir, reference / "cache", "seed=1,2"), sweep_dir)
    assert code == 0, output[-3000:]
    records = [read_run_json(path.parent) for path in sorted(sweep_dir.glob("*/run.json"))]
    assert [(r["status"], r["seed"]) for r in records] == [("complete", 1), ("complete", 2)]
    script = next(sweep_dir.glob(".submitit/*/*_submission.sh")).read_text()
    assert "--gpus" not in script and "--gres" not in script      # a CPU trainer requests no GPU
    assert "--cpus-per-task=1" in script and "--mem=8GB" in script


# requeue is slow: usr2 keeps a pre-empted, requeued and resumed job in the default run
@pytest.mark.parametrize("how", ["usr2", pytest.param("requeue", marks=pytest.mark.slow)])
def test_a_preempted_or_requeued_job_resumes_bitwise_with_one_wandb_run(tmp_path, cluster, reference, how):
    """(b) scancel --signal=USR2 (submitit requeues) and (c) scontrol requeue (SIGTERM, SLURM
    requeues): the job saves, is requeued, resumes in the same run directory, and its predictions
    are bitwise those of the uninterrupted run; W&B keeps one run across both attempts, the step
    counter going on from the checkpoint."""
    sweep_dir = tmp_path / "sweep"
    process = sweep(cluster, sweep_dir, reference / "cache", "seed=1", "logger=wandb",
                    "trainer.log_every_n_steps=1", *PAUSE, *QUICK_WAIT)
    run_dir = sweep_dir / "0-cnn_lstm-seed1"
    wait_for(lambda: (run_dir / "paused").exists(), 240, "the job to reach step 5")
    job = job_of(cluster)
    if how == "usr2":
        cluster.command("scancel", "--signal=USR2", job)
    else:
        cluster.command("scontrol", "requeue", job)
    released = release_requeued(cluster, job, process)
    code, output = finish(process, sweep_dir)
    assert code == 0, output[-3000:]
    assert released >= 1                                   # it was requeued, not just finished
    record = read_run_json(run_dir)
    assert record["status"] == "complete"
    np.testing.assert_array_equal(read_predictions(run_dir)["probs"],
                                  read_predictions(reference / "run")["probs"])
    run_id = (run_dir / "wandb_id.txt").read_text().strip()
    attempts = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(attempts) == 2 and all(attempt.name.endswith(run_id) for attempt in attempts)
    first, second = (global_steps(attempt) for attempt in attempts)
    # The second attempt logs on from the checkpoint's step (held after step 5; stopped at the end
    # of step 5 or 6), not from 0. What the first attempt logged before the signal killed W&B's
    # service (SIGTERM kills it before it wrote its buffer; USR2 later) precedes it.
    assert min(second) >= 5 and (not first or max(first) < min(second))
    assert max(second) == record["training"]["steps"] == 16


def global_steps(attempt: Path) -> list[int]:
    """The ``trainer/global_step`` values an offline W&B run attempt logged."""
    found = []
    for record in records(next(attempt.glob("run-*.wandb"))):
        if record.WhichOneof("record_type") == "history":
            for item in record.history.item:
                if (item.key or "/".join(item.nested_key)) == "trainer/global_step":
                    found.append(int(float(item.value_json)))
    return found


def test_a_cancelled_job_ends_the_sweep_listed_as_failed(tmp_path, cluster, reference):
    """(d) scancel of one job of two: the sweep does not wait for it forever, the other completes,
    the cancelled one is one line of the summary, exit status 1."""
    sweep_dir = tmp_path / "sweep"
    process = sweep(cluster, sweep_dir, reference / "cache", "seed=1,2", *PAUSE, *QUICK_WAIT)
    runs = [sweep_dir / "0-cnn_lstm-seed1", sweep_dir / "1-cnn_lstm-seed2"]
    wait_for(lambda: all((run / "paused").exists() for run in runs), 240, "both jobs to reach step 5")
    running = wait_for(lambda: (lambda jobs: jobs if len(jobs) == 2 else None)(
        sorted(job for job, state in cluster.jobs().items() if state == "RUNNING")), 60, "two running jobs")
    cancelled_at = time.monotonic()
    cluster.command("scancel", running[1])
    wait_for(lambda: cluster.jobs().get(running[1]) == "CANCELLED", 120, "the cancellation")
    (runs[0] / "release").write_text("")   # let the other job go on (see PauseAtStep)
    code, output = finish(process, sweep_dir)
    assert time.monotonic() - cancelled_at < 300
    assert code == 1, output[-3000:]
    assert read_run_json(runs[0])["status"] == "complete"
    failed = read_run_json(runs[1])
    assert failed["status"] == "failed" and f"SLURM job {running[1]} ended CANCELLED" in failed["error"]
    summary = [line for line in output.splitlines() if "1-cnn_lstm-seed2: failed" in line]
    assert len(summary) == 1 and "Traceback" not in output
    # Finished later, by hand: the job's own overrides in its run directory resume its checkpoint.
    overrides = yaml.safe_load((runs[1] / ".hydra" / "overrides.yaml").read_text())
    again = subprocess.run([sys.executable, "scripts/train.py", *overrides, f"hydra.run.dir={runs[1]}"],
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Restoring states from the checkpoint" in again.stdout + again.stderr
    assert read_run_json(runs[1])["status"] == "complete"


def test_ddp_across_two_slurm_tasks(tmp_path, cluster, reference):
    """(e) trainer=ddp_cpu: srun starts two tasks, Lightning forms the process group from SLURM's
    environment, one record with world size 2."""
    sweep_dir = tmp_path / "sweep"
    code, output = finish(sweep(cluster, sweep_dir, reference / "cache", "seed=1", "trainer=ddp_cpu",
                                *QUICK_WAIT), sweep_dir)
    assert code == 0, output[-3000:]
    [record_file] = sweep_dir.glob("*/run.json")
    record = read_run_json(record_file.parent)
    assert record["status"] == "complete" and record["training"]["world_size"] == 2
    script = next(sweep_dir.glob(".submitit/*/*_submission.sh")).read_text()
    assert "--ntasks-per-node=2" in script and "--mem=16GB" in script


def test_the_analysis_split_into_a_slurm_job_array_gives_the_single_process_report(tmp_path, cluster):
    """homog-analyze with launcher=slurm: the pairwise work (CKA's Gram, then the further
    representation measures) as job arrays on the scheduler, merged; the tables equal a
    single-process analysis's exactly."""
    from tests.test_analysis_scale import assert_same_report, report_tables, small_study

    runs = small_study(tmp_path / "runs", runs=10)      # 2 jobs: chunks of 8 and 2 runs, 3 tiles
    common = [sys.executable, "scripts/analyze.py", f"runs={runs}", "bootstrap=30", "knn_bootstrap=4",
              "measures=[procrustes,pwcca]"]
    single = subprocess.run([*common, f"out={tmp_path / 'one'}"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    split = subprocess.run([*common, f"out={tmp_path / 'split'}", "jobs=2", "launcher=slurm",
                            "slurm={mem_gb: 1, cpus_per_task: 1, time: 10}"],
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, env=cluster.env)
    assert split.returncode == 0, split.stderr[-3000:]
    assert "CKA Gram: 3 tiles in 2 slurm jobs" in split.stderr + split.stdout
    assert "Further measures: 3 tiles in 2 slurm jobs" in split.stderr + split.stdout
    assert_same_report(report_tables(tmp_path / "split"), report_tables(tmp_path / "one"))
