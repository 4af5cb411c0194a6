"""Write and read run directories as DESIGN.md's run-record contract specifies.

A run directory is complete when ``run.json`` exists with ``status: complete``. It is written last
and atomically, so a reader never sees a half-written record.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

SCHEMA_VERSION = 1
RUN_FILE = "run.json"


def fingerprint(rows: Iterable[tuple[str, str]]) -> str:
    """sha256 over (text, label name) pairs, in order: equal iff two runs saw the same split."""
    digest = hashlib.sha256()
    for text, label in rows:
        digest.update(text.encode("utf-8"))
        digest.update(b"\t")
        digest.update(label.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def _atomic_write(path: Path, write) -> None:
    """Write to a temporary file in the same directory, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_predictions(run_dir: Path, split: str, arrays: dict[str, np.ndarray]) -> Path:
    """``predictions/<split>.npz``: one row per unit (example, or word for token tasks)."""
    lengths = {name: len(values) for name, values in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"prediction arrays have different row counts: {lengths}")
    path = Path(run_dir) / "predictions" / f"{split}.npz"
    _atomic_write(path, lambda handle: np.savez(handle, **arrays))
    return path


def write_representations(run_dir: Path, split: str, representations: np.ndarray) -> Path:
    """``representations/<split>.npy``: float16 [N, H], rows in the order of the predictions."""
    path = Path(run_dir) / "representations" / f"{split}.npy"
    values = np.asarray(representations, dtype=np.float16)
    _atomic_write(path, lambda handle: np.save(handle, values))
    return path


def write_run_json(run_dir: Path, record: dict) -> Path:
    """Write ``run.json`` last: its presence marks the record complete."""
    record = {"schema": SCHEMA_VERSION, **record}
    text = json.dumps(record, indent=2, sort_keys=False, default=str)
    path = Path(run_dir) / RUN_FILE
    _atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))
    return path


def read_run_json(run_dir: Path) -> dict | None:
    """The run's record, or None when the run has no ``run.json`` (still running or crashed)."""
    path = Path(run_dir) / RUN_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def read_predictions(run_dir: Path, split: str = "test") -> dict[str, np.ndarray]:
    with np.load(Path(run_dir) / "predictions" / f"{split}.npz") as data:
        return {name: data[name] for name in data.files}


def read_representations(run_dir: Path, split: str = "test") -> np.ndarray:
    return np.load(Path(run_dir) / "representations" / f"{split}.npy")
