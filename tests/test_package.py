"""The package as users meet it: commands from any directory, outputs where the user works, files
readable as the user's umask says. (The wheel itself is installed into a fresh venv by
.ci/wheel_check, which CI runs.)"""

import os
import stat
import subprocess
import sys

import numpy as np

from homogenization.analysis.make_report import make_report
from homogenization.analysis.runs.synthetic_runs import write_run
from homogenization.analysis.study import Settings
from tests.helpers import FAST, FAST_LABELLED_DATA, SMALL_MODELS


def user_dir(tmp_path):
    """A research project's folder with its own core/ and training/ packages."""
    user = tmp_path / "project"
    for name in ("core", "training"):
        (user / name).mkdir(parents=True)
        (user / name / "__init__.py").write_text(f"raise ImportError('the user\\'s {name} was imported')")
    return user


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_training_from_a_users_folder_writes_there_with_the_umasks_modes(tmp_path):
    user = user_dir(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "HOMOG_ROOT"}
    result = subprocess.run([sys.executable, "-m", "homogenization.cli.train", *FAST, *FAST_LABELLED_DATA,
                             *SMALL_MODELS["cnn_lstm"]], cwd=user, env=env, capture_output=True,
                            text=True, timeout=600, preexec_fn=lambda: os.umask(0o027))
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (user / "logs" / "runs").iterdir()   # logs/ and the caches under the working dir
    assert (user / ".cache" / "generated").is_dir() and (user / ".cache" / "tokenized").is_dir()
    for name in ("run.json", "predictions/test.npz", "predictions/test_texts.json",
                 "representations/test.npy"):
        assert mode(run_dir / name) == 0o640, name   # group-readable, as umask 027 says
    cache = next(p for p in (user / ".cache" / "tokenized").iterdir() if p.is_dir())
    assert mode(cache) == 0o750


def test_a_report_follows_the_umask(tmp_path):
    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, 200)
    for seed in (1, 2):
        write_run(tmp_path / f"r{seed}", np.where(rng.random(200) < 0.2, 1 - label, label), label,
                  rng.normal(size=(200, 4)), seed=seed)
    old = os.umask(0o022)
    try:
        make_report([str(tmp_path)], tmp_path / "report", ["seed"], Settings(bootstrap=20, knn_bootstrap=2))
    finally:
        os.umask(old)
    assert mode(tmp_path / "report") == 0o755
    for name in ("report.md", "pairs.csv"):
        assert mode(tmp_path / "report" / name) == 0o644


def test_the_commands_work_from_any_folder(tmp_path):
    user = user_dir(tmp_path)
    for module in ("homogenization.cli.train", "homogenization.cli.analyze"):
        shown = subprocess.run([sys.executable, "-m", module, "--help"], cwd=user, capture_output=True,
                               text=True, timeout=120)
        assert shown.returncode == 0 and "== Configuration groups ==" in shown.stdout, shown.stderr[-2000:]
    composed = subprocess.run([sys.executable, "-m", "homogenization.cli.train", "--cfg", "job",
                               "--resolve"], cwd=user,
                              capture_output=True, text=True, timeout=120,
                              env={k: v for k, v in os.environ.items() if k != "HOMOG_ROOT"})
    assert f"log_dir: {user}/logs" in composed.stdout
    assert f"cache_dir: {user}/.cache/tokenized" in composed.stdout
    completion = subprocess.run([sys.executable, "-m", "homogenization.cli.train", "--shell-completion",
                                 "install=bash"], cwd=user, capture_output=True, text=True, timeout=120)
    assert completion.returncode == 0 and "COMP_LINE" in completion.stdout
