import os
import subprocess
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: never download
os.environ.setdefault("WANDB_MODE", "offline")

from tests.helpers import REPO_ROOT, pretrain_tiny_bert  # noqa: E402

# Jobs started by the tests (scripts/train.py, sweeps) load test helpers as callbacks
# (e.g. +callbacks.signal._target_=tests.crash.SignalAtStep): they import from the repository.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
if "HOMOG_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["HOMOG_DATA_DIR"] = str(SHARED_DATA)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real datasets (SST-2, CoNLL-2003, WikiText-2); tests that need them skip without them.
    Everything else runs on the generated demo data."""
    path = Path(os.environ.get("HOMOG_DATA_DIR", REPO_ROOT / "data"))
    needed = [path / "sst2" / "train.tsv", path / "conll2003" / "train.txt", path / "wikitext2" / "valid.txt"]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        pytest.skip(f"needs the real datasets ({missing[0]} not found; set HOMOG_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def demo_train_texts(tmp_path_factory) -> list[str]:
    """The generated demo sentiment task's training sentences."""
    from datamodules.demo_data import generate

    directory = generate("sentiment", tmp_path_factory.mktemp("generated"))
    lines = (directory / "train.tsv").read_text().splitlines()
    return [line.split("\t")[0] for line in lines[1:]]


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A small BERT checkpoint directory made by our own masked-LM pretraining on generated text
    (no download is possible here, and none is needed)."""
    wikitext = Path(os.environ.get("HOMOG_DATA_DIR", REPO_ROOT / "data")) / "wikitext2"
    extra = [wikitext / "valid.txt", wikitext / "test.txt"] if (wikitext / "valid.txt").is_file() else []
    return pretrain_tiny_bert(tmp_path_factory.mktemp("pretrain") / "run", extra)


@pytest.fixture
def small_disk_of(tmp_path):
    """``small_disk_of("400k")``: a folder that is a tmpfs of that size (a real small disk, to be
    filled by the test); the test skips where one cannot be mounted."""
    mounts = []

    def mount(size: str, name: str = "small_disk") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here ({result.stderr.strip()})")
        mounts.append(folder)
        return folder

    yield mount
    for folder in mounts:
        subprocess.run(["umount", "-l", str(folder)], check=False)
