"""A misspelled key on the command line is one line naming the closest known key, for every
command; every key a shipped config can compose is known, so no legitimate override is refused."""

import subprocess
import sys

import pytest

from homogenization.cli.override_keys import known_keys, misspelled
from tests.helpers import REPO_ROOT
from tests.test_configs import CONF, composed


@pytest.mark.parametrize("script, argument, suggestion", [
    ("train.py", "modle=cnn_lstm", "model=cnn_lstm"),
    ("train.py", "traner.max_epochs=3", "trainer.max_epochs=3"),
    ("train.py", "seed_dat=3", "seed_data=3"),
    ("analyze.py", "trnd=training.parameters", "trend=training.parameters"),
    ("analyze.py", "group_bye=[model]", "group_by=[model]"),
    ("analyze.py", "analysis.bootstrap=20", "bootstrap=20"),   # a flat group's key below its name
])
def test_a_misspelled_key_is_one_line_with_the_closest_key(script, argument, suggestion):
    runs = ["runs=/nowhere"] if script == "analyze.py" else []
    done = subprocess.run([sys.executable, f"scripts/{script}", *runs, argument], cwd=REPO_ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"did you mean {suggestion}?" in lines[0], done.stderr


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_every_key_an_experiment_composes_is_known(experiment):
    config = composed(f"experiment={experiment}")
    assert set(config) <= known_keys("train"), set(config) - known_keys("train")


def test_what_is_not_checked_is_left_to_hydra(tmp_path):
    known = known_keys("train")
    unchecked = ["+modle=x", "++seed=2", "~logger", "-m", "--cfg", "job", "hydra.run.dir=x"]
    assert misspelled(unchecked, known) is None
    assert misspelled(["zzz_new=1"], known) is None            # nothing close: Hydra's message
    assert misspelled(["trainer.max_epoch=1"], known) is None  # below the top: Hydra's message
    own = tmp_path / "conf" / "mygroup"
    own.mkdir(parents=True)
    (own / "a.yaml").write_text("x: 1\n")
    assert "mygroup" in known_keys("train", tmp_path / "conf")
