"""Real Hydra launchers (parallel: joblib, processes: submitit local), the SLURM config, output
directories and preemption: the parts of scaling out that can run on one machine."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from homogenization.conf import CONFIG_MODULE
from homogenization.core.run_record import read_run_json
from tests.helpers import FAST, FAST_LABELLED_DATA, REPO_ROOT, SMALL_MODELS

TRAIN = [sys.executable, "scripts/train.py"]


def tiny(tmp_path):
    return [f"paths.log_dir={tmp_path / 'logs'}", f"paths.cache_dir={tmp_path / 'cache'}",
            *FAST, *FAST_LABELLED_DATA, *SMALL_MODELS["cnn_lstm"]]


def run(command, timeout=600):
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def complete_runs(sweep_dir):
    return sorted(p.name for p in sweep_dir.iterdir() if (read_run_json(p) or {}).get("status") == "complete")


UNACTIONABLE = ("ConfigStore schema", "litlogger", "srun` command is available", "weights_only", "LeafSpec",
                "is not available", "Warning")


def test_joblib_launcher_runs_jobs_in_parallel_with_shared_threads(tmp_path):
    result = run([*TRAIN, "-m", "hydra/launcher=parallel", "seed=1,2", *tiny(tmp_path)])
    output = result.stdout + result.stderr
    assert not [text for text in UNACTIONABLE if text in output]
    (sweep_dir,) = (tmp_path / "logs" / "multiruns").iterdir()   # one sweep directory for both jobs
    assert f"sweep: 2 jobs in {sweep_dir}" in output and "sweep: 2 of 2 jobs done" in output
    assert complete_runs(sweep_dir) == ["0-cnn_lstm-seed1", "1-cnn_lstm-seed2"]
    threads = read_run_json(sweep_dir / "0-cnn_lstm-seed1")["training"]["torch_threads"]
    assert threads == max(1, (os.cpu_count() or 1) // 2)


def test_submitit_local_launcher_completes_a_sweep(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = run([*TRAIN, "-m", "hydra/launcher=processes", "seed=1,2", f"hydra.sweep.dir={sweep_dir}",
                  *tiny(tmp_path)])
    output = result.stdout + result.stderr
    assert not [text for text in UNACTIONABLE if text in output]
    assert f"sweep: 2 jobs in {sweep_dir}" in output and "sweep: 2 of 2 jobs done" in output
    assert complete_runs(sweep_dir) == ["0-cnn_lstm-seed1", "1-cnn_lstm-seed2"]
    assert list((sweep_dir / ".submitit").glob("*/*_result.pkl"))


def test_slurm_config_makes_the_expected_sbatch_script(tmp_path, monkeypatch):
    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        cfg = compose("train", return_hydra_config=True, overrides=[
            "hydra/launcher=slurm", "trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2",
            "hydra.launcher.partition=gpu", "hydra.launcher.setup=[module load cuda/12.4]",
            "+hydra.launcher.additional_parameters.mail-type=END", f"hydra.sweep.dir={tmp_path}"])
    params = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert params["nodes"] == 2 and params["tasks_per_node"] == 4 and params["gpus_per_node"] == 4
    # submitit refuses to build a SLURM executor without srun on PATH: give it one that never runs.
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "srun").write_text("#!/bin/sh\nexit 1\n")
    (fake_bin / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}:{os.environ['PATH']}")
    from hydra_plugins.homogenization_launchers.slurm import SlurmLauncher

    params.pop("_target_")
    executor = SlurmLauncher(**params).executor()   # what the launcher submits with
    script = executor._executor._make_submission_file_text("python -u -m submitit.core._submit x", "id")
    for line in ("#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=4", "#SBATCH --gpus-per-node=4",
                 "#SBATCH --cpus-per-task=1", "#SBATCH --mem=32GB",
                 "#SBATCH --partition=gpu", "#SBATCH --signal=USR2@120", "#SBATCH --time=240",
                 "#SBATCH --mail-type=END", "module load cuda/12.4"):
        assert line in script
    assert "\nsrun --unbuffered" in script


@pytest.mark.parametrize("machine", ["no SLURM commands", "sbatch without a slurm.conf"])
def test_slurm_without_a_controller_is_one_line(tmp_path, machine):
    """Where there is no SLURM (no srun/sbatch on PATH) or sbatch reaches no controller (no
    slurm.conf), the sweep stops with one line and exit 2, not submitit's traceback."""
    environment = {name: value for name, value in os.environ.items() if name != "SLURM_CONF"}
    if machine == "no SLURM commands":
        environment["PATH"] = str(tmp_path / "empty-bin")
    elif not shutil.which("sbatch") or Path("/etc/slurm/slurm.conf").exists():
        pytest.skip("needs sbatch installed without a site slurm.conf")
    command = [*TRAIN, "-m", "hydra/launcher=slurm", "seed=1", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                            env=environment)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-2000:]
    errors = [line for line in output.splitlines() if "error: hydra/launcher=slurm" in line]
    assert len(errors) == 1 and "could not be submitted" in errors[0] and "Traceback" not in output


def test_runs_started_in_the_same_second_get_different_directories(tmp_path):
    command = [*TRAIN, "--cfg", "all", "--resolve", f"paths.log_dir={tmp_path}"]
    procs = [subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    run_dirs = []
    for proc in procs:
        output = proc.communicate(timeout=120)[0]
        run_dirs.append(output.split("\n  run:\n    dir: ", 1)[1].split("\n", 1)[0])
    assert len(set(run_dirs)) == 3
    # Different even when the timestamps are equal: each carries its own random token.
    pattern = rf"{re.escape(str(tmp_path))}/runs/\d{{4}}-\d\d-\d\d_\d\d-\d\d-\d\d-([0-9a-f]{{6}})"
    tokens = [re.fullmatch(pattern, d).group(1) for d in run_dirs]
    assert len(set(tokens)) == 3


def test_preemption_signal_saves_last_checkpoint_and_the_rerun_resumes(tmp_path):
    run_dir = tmp_path / "run"
    command = [*TRAIN, f"hydra.run.dir={run_dir}", *tiny(tmp_path), "trainer.max_epochs=3",
               "trainer.limit_train_batches=8"]
    job = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    for line in job.stdout:   # wait until training is under way (first epoch logged)
        if "epoch 0:" in line:
            job.send_signal(signal.SIGUSR2)
            break
    output = job.stdout.read()
    assert job.wait(timeout=300) == 128 + signal.SIGUSR2, output[-3000:]
    assert "SIGUSR2: saved" in output
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert read_run_json(run_dir)["status"] == "interrupted"

    time.sleep(1)
    resumed = run(command)
    assert "Resuming from" in resumed.stdout + resumed.stderr
    record = read_run_json(run_dir)
    assert record["status"] == "complete" and record["training"]["steps"] == 3 * 8
    assert record["training"]["epochs"] == 3


def test_a_search_space_the_model_lacks_is_one_line_before_any_trial(tmp_path):
    result = subprocess.run([*TRAIN, "-m", "hparams_search=optuna", "model=bert", "backbone=/nonexistent",
                             f"hydra.sweep.dir={tmp_path / 'search'}"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in output
    assert "model=bert has no model.encoder.dropout, model.width to tune" in output
    assert not (tmp_path / "search").exists() or not list((tmp_path / "search").glob("*/run.json"))


@pytest.mark.parametrize("launcher", ["parallel", "processes", "slurm"])
def test_launcher_configs_compose(launcher):
    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        cfg = compose("train", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.startswith("hydra_plugins.")


def test_optuna_search_runs_trials_and_reports_the_best(tmp_path):
    sweep_dir = tmp_path / "search"
    run([*TRAIN, "-m", "hparams_search=optuna", "hydra.sweeper.n_trials=3", f"hydra.sweep.dir={sweep_dir}",
         *tiny(tmp_path)])
    records = [read_run_json(sweep_dir / name) for name in complete_runs(sweep_dir)]
    assert len(records) == 3
    results = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    best = max(records, key=lambda r: r["metrics"]["val/acc_best"])
    assert results.best_value == pytest.approx(best["metrics"]["val/acc_best"])
    assert results.best_params["model.width"] == best["config"]["model"]["width"]
    learning_rates = [r["config"]["model"]["optimizer"]["lr"] for r in records]
    assert results.best_params["model.optimizer.lr"] == pytest.approx(learning_rates[records.index(best)])
    assert len(set(learning_rates)) == 3


def test_optuna_search_with_sqlite_storage_resumes_with_new_trials(tmp_path):
    """Stopped after 2 trials, the same command continues the study to 4 (new points, not the first
    two again); each trial's directory names its parameters."""
    import optuna

    storage = f"sqlite:///{tmp_path / 'search.db'}"
    command = [*TRAIN, "-m", "hparams_search=optuna", "hydra.sweeper.n_trials=2",
               f"hydra.sweeper.storage={storage}", f"hydra.sweep.dir={tmp_path / 'search'}", *tiny(tmp_path)]
    run(command)
    optuna.load_study(study_name="cnn_lstm-demo", storage=storage).ask()   # a killed search's trial
    resumed = run(command)
    trials = optuna.load_study(study_name="cnn_lstm-demo", storage=storage).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 2 + ["FAIL"] + ["COMPLETE"] * 2
    assert "trial(s) 2 of study cnn_lstm-demo were left running" in resumed.stdout + resumed.stderr
    assert len({t.params["model.optimizer.lr"] for t in trials if t.state.name == "COMPLETE"}) == 4
    names = complete_runs(tmp_path / "search")
    assert len(names) == 4 and all("lr=" in name and "width=" in name for name in names)


def test_an_interrupted_sweep_resumes_with_the_flag_it_printed(tmp_path):
    sweep = [*TRAIN, "-m", "seed=1,2", *tiny(tmp_path), "trainer.max_epochs=2",
             "+callbacks.signal._target_=tests.crash.SignalAtStep"]
    stopped = subprocess.run(sweep, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
                             env={**os.environ, "FAULT_STEP": "3"})
    output = stopped.stdout + stopped.stderr
    assert stopped.returncode == 128 + signal.SIGTERM, output[-3000:]
    flag = re.search(r"the same command with (hydra\.sweep\.dir=\S+) resumes it", output)
    assert flag, output[-3000:]
    sweep_dir = Path(flag.group(1).split("=", 1)[1])
    assert read_run_json(sweep_dir / "0-cnn_lstm-seed1")["status"] == "interrupted"

    resumed = run([*sweep, flag.group(1)])
    assert "Resuming from" in resumed.stdout + resumed.stderr
    assert complete_runs(sweep_dir) == ["0-cnn_lstm-seed1", "1-cnn_lstm-seed2"]


def test_sweep_progress_counts_jobs_and_estimates_the_rest(tmp_path):
    from omegaconf import OmegaConf

    from homogenization.core.run_record import RunRecord, write_record
    from homogenization.training.sweep_progress import ended_jobs, planned_jobs, progress_line

    def sweep(*task):
        return OmegaConf.create({"hydra": {"sweeper": {"_target_": "hydra._internal.core_plugins."
                                                       "basic_sweeper.BasicSweeper"},
                                           "overrides": {"task": list(task)}}})
    assert planned_jobs(sweep("model=cnn_lstm,transformer", "seed=range(1,4)", "data=demo")) == 6
    from_experiment = sweep("seed=1,2")
    from_experiment.hydra.sweeper.params = {"model": "cnn_lstm,transformer,bert", "seed": "1,2,3,4,5"}
    assert planned_jobs(from_experiment) == 6   # the command line's seed=1,2 wins over the experiment's
    assert planned_jobs(OmegaConf.create({"hydra": {"sweeper": {"n_trials": 7}}})) == 7
    for name, status in [("0", "complete"), ("1", "failed"), ("2", "interrupted"),
                         ("finetune/3", "complete")]:      # a study's arm folder (scaling_study)
        write_record(tmp_path / name, RunRecord(status=status))
    assert ended_jobs(tmp_path) == (3, 1)
    line = progress_line(2, 1, 6, elapsed=120.0)
    assert line == "sweep: 2 of 6 jobs done (1 failed), elapsed 2m00s, about 4m00s left"
    assert progress_line(3, 0, 6, elapsed=60.0, already=2).endswith("about 3m00s left")   # resumed
