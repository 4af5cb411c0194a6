"""The run record: the contract between training and analysis (docs/runs_and_configs.md: "What a run writes").

A run directory holds ``predictions/test.npz`` (one row per test unit), ``representations/test.npy``
(same rows) and ``run.json``, written last and atomically. :class:`RunRecord` is the one type for
``run.json``; complete, partial, failed and interrupted records all come from it, and
:func:`write_test_record` is the one function that writes a classification run's outputs.

What ``status: complete`` guarantees (checked here before it is written):
- one prediction row per test unit (``test.units_recorded == data.splits.test.units``);
- every probability finite, every row of probabilities summing to 1, every prediction a label;
- every representation finite and stored exactly enough (float16 only where it cannot overflow).
A test loop that did not cover the whole test split gives ``status: partial``; non-finite outputs
are refused (:class:`RecordError`, status ``failed``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from homogenization.core.disk_space import room_for

SCHEMA_VERSION = 2
RUN_FILE = "run.json"
STATUSES = ("complete", "partial", "interrupted", "failed")
# Files of one attempt of a job; cleared when a job starts fresh in a directory used before.
OUTPUTS = ("checkpoints", "predictions", "representations", RUN_FILE, "test_report.txt",
           "tokenizer.json", "wandb_id.txt", "pretrained", "pretrained_steps", ".ddp")
FLOAT16_MAX = float(np.finfo(np.float16).max)
PROBABILITY_TOLERANCE = 1e-3


class RecordError(Exception):
    """Test outputs that must not be recorded as a result (non-finite, mis-shaped)."""


@dataclass
class RunRecord:
    """``run.json``. ``status`` is one of :data:`STATUSES`; fields a status does not use stay None."""

    status: str
    task: str | None = None
    model: str | None = None
    seed: int | None = None
    seeds: dict | None = None
    data: dict | None = None          # name; splits: {split: fingerprint, size, units, truncated}
    labels: list[str] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    checkpoint: str | None = None
    export: str | None = None
    exports: dict | None = None       # record.export_steps: {step: save_pretrained directory}
    backbone: dict | None = None
    training: dict | None = None      # epochs, steps, parameters, untrained, torch_threads, world_size
    test: dict | None = None          # units_expected, units_recorded, representation_dtype
    config: dict | None = None
    config_digest: str | None = None
    error: str | None = None
    traceback: str | None = None
    signal: str | None = None
    versions: dict | None = None
    git: str | None = None
    duration_s: float | None = None
    schema: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} is not one of {STATUSES}")

    @property
    def untrained(self) -> bool:
        training = self.training or {}
        return training.get("steps") == 0 and not training.get("evaluated") and not training.get("imported")

    @property
    def test_fingerprint(self) -> str | None:
        return ((self.data or {}).get("splits", {}).get("test") or {}).get("fingerprint")

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        return {"schema": values.pop("schema"), **{k: v for k, v in values.items() if v is not None}}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunRecord:
        if not isinstance(values, dict):
            raise ValueError("not a JSON object")
        schema = values.get("schema", 1)
        if not isinstance(schema, int) or schema > SCHEMA_VERSION:
            raise ValueError(f"schema {schema!r} is newer than this code reads ({SCHEMA_VERSION}); update it")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def umask_mode(directory: bool = False) -> int:
    """The mode ``open``/``mkdir`` would give a new file (0o666) or folder (0o777) under the
    process's umask. tempfile creates 0600 files and 0700 folders whatever the umask says; what we
    rename into place gets this mode instead, so a lab's group can read records and reports."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


def staging_dir(parent: Path, name: str) -> Path:
    """A new hidden folder ``.<name>.<pid>.<random>`` in ``parent`` (to be renamed into place),
    with the umask's mode; the process id lets a later run clear it if this one is killed."""
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(dir=parent, prefix=f".{name}.{os.getpid()}."))
    path.chmod(umask_mode(directory=True))
    return path


def clear_stale_staging(parent: Path, name: str) -> list[Path]:
    """Remove the staging folders of ``name`` in ``parent`` whose process is gone (killed before it
    could clean up); a live process's are left alone. Returns the folders removed."""
    removed = []
    for path in Path(parent).glob(f".{name}.*") if Path(parent).is_dir() else []:
        pid = path.name[len(name) + 2:].split(".", 1)[0]
        if path.is_dir() and pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's process
        return True
    return True


def atomic_write(path: Path, write) -> None:
    """Write to a temporary file in the same directory, then rename over ``path`` (the umask's mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with room_for(path, "this file", "Nothing was half-written: free space there (or write to a larger disk) "
                  "and run the same command again."):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, umask_mode())
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def write_record(run_dir: Path, record: RunRecord) -> Path:
    """Write ``run.json`` (atomically; for a classification run, after its predictions)."""
    text = json.dumps(record.to_dict(), indent=2, default=str)
    path = Path(run_dir) / RUN_FILE
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))
    return path


def read_record(run_dir: Path) -> RunRecord | None:
    """The run's record, or None when it has no ``run.json``. ValueError if it is not a record."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        return None
    return RunRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))


def read_run_json(run_dir: Path) -> dict | None:
    """``run.json`` as a validated dict (for scripts and tests that index it)."""
    record = read_record(run_dir)
    return None if record is None else record.to_dict()


# -- test outputs --------------------------------------------------------------------------------

def layer_keys(rows: dict) -> list[str]:
    """The ``layer_<k>`` columns of test rows, by layer index."""
    return sorted((name for name in rows if name.startswith("layer_")), key=lambda n: int(n[6:]))


def check_test_rows(rows: dict[str, np.ndarray], n_labels: int) -> None:
    """Refuse outputs that are not a result: rows of different lengths, probabilities that are not
    finite or do not sum to 1, predictions that are not labels, non-finite representations."""
    lengths = {name: len(values) for name, values in rows.items()}
    if len(set(lengths.values())) != 1:
        raise RecordError(f"test outputs have different row counts: {lengths}")
    probs = np.asarray(rows["probs"], dtype=np.float64)
    bad = ~np.isfinite(probs).all(axis=1)
    if bad.any():
        raise RecordError(f"{int(bad.sum())} of {len(probs)} test rows have non-finite probabilities "
                          "(the model diverged); nothing was recorded as a result")
    off = np.abs(probs.sum(axis=1) - 1) > PROBABILITY_TOLERANCE
    if off.any() or probs.shape[1] != n_labels:
        raise RecordError(f"test probabilities: {int(off.sum())} rows do not sum to 1 or the width "
                          f"{probs.shape[1]} is not the {n_labels} labels")
    pred = np.asarray(rows["pred"])
    if len(pred) and (pred.min() < 0 or pred.max() >= n_labels):
        raise RecordError(f"test predictions outside the {n_labels} labels")
    for name in ("representation", *layer_keys(rows)):
        representation = np.asarray(rows[name])
        not_finite = ~np.isfinite(representation).all(axis=1)
        if not_finite.any():
            which = "" if name == "representation" else f" of {name.replace('_', ' ')}"
            raise RecordError(f"{int(not_finite.sum())} of {len(representation)} test representations{which} "
                              "are not finite (the model diverged); nothing was recorded as a result")


def storage_dtype(representation: np.ndarray) -> np.dtype:
    """float16 halves the disk, but only where no value overflows it; otherwise float32."""
    largest = float(np.abs(representation).max()) if representation.size else 0.0
    return np.dtype(np.float16) if largest < FLOAT16_MAX else np.dtype(np.float32)


def write_test_record(run_dir: Path, record: RunRecord, rows: dict[str, np.ndarray],
                      key_columns: tuple[str, ...], expected_units: int,
                      texts: list | None = None) -> RunRecord:
    """Check and write a classification run: predictions, representations, the test items' texts
    (``predictions/test_texts.json``, when given), then ``run.json``.

    ``rows``: the key columns, ``label``, ``pred``, ``probs`` and ``representation`` of every
    recorded test unit. The record is ``complete`` only when every test unit was recorded, else
    ``partial``; returns the record as written.
    """
    run_dir = Path(run_dir)
    check_test_rows(rows, len(record.labels))
    recorded = len(rows["pred"])
    if recorded > expected_units:
        raise RecordError(f"{recorded} test rows recorded for {expected_units} test units")
    representation = np.asarray(rows["representation"])
    dtype = storage_dtype(representation)
    arrays = {name: np.asarray(rows[name]).astype(np.int64) for name in (*key_columns, "label", "pred")}
    arrays["probs"] = np.asarray(rows["probs"]).astype(np.float32)
    atomic_write(run_dir / "predictions" / "test.npz", lambda handle: np.savez(handle, **arrays))
    atomic_write(run_dir / "representations" / "test.npy",
                  lambda handle: np.save(handle, representation.astype(dtype)))
    layer_dtypes = {}
    for name in layer_keys(rows):   # record.layers: representations/test_layer{k}.npy
        values = np.asarray(rows[name])
        layer_dtypes[name[6:]] = storage_dtype(values).name
        atomic_write(run_dir / "representations" / f"test_{name.replace('_', '')}.npy",
                      lambda handle, v=values: np.save(handle, v.astype(storage_dtype(v))))
    if texts is not None:
        atomic_write(run_dir / "predictions" / "test_texts.json",
                      lambda handle: handle.write(json.dumps(texts, ensure_ascii=False).encode("utf-8")))
    record.test = {"units_expected": expected_units, "units_recorded": recorded,
                   "representation_dtype": dtype.name,
                   **({"layers": sorted(map(int, layer_dtypes))} if layer_dtypes else {}),
                   **({"epochs": epochs} if (epochs := recorded_epochs(run_dir)) else {})}
    if recorded < expected_units:
        record.status = "partial"
        record.error = (f"the test loop covered {recorded} of {expected_units} test units (was "
                        "trainer.limit_test_batches or debug= set?); not a result to analyze")
    write_record(run_dir, record)
    return record


def write_epoch_predictions(run_dir: Path, epoch: int, rows: dict[str, np.ndarray],
                            key_columns: tuple[str, ...], n_labels: int) -> None:
    """``record.every_epoch``: one epoch's test rows, as ``predictions/test_epoch{e}.npz`` and
    ``representations/test_epoch{e}.npy`` (the same checks and formats as the final ones)."""
    check_test_rows(rows, n_labels)
    arrays = {name: np.asarray(rows[name]).astype(np.int64) for name in (*key_columns, "label", "pred")}
    arrays["probs"] = np.asarray(rows["probs"]).astype(np.float32)
    representation = np.asarray(rows["representation"])
    atomic_write(Path(run_dir) / "predictions" / f"test_epoch{epoch}.npz",
                  lambda handle: np.savez(handle, **arrays))
    atomic_write(Path(run_dir) / "representations" / f"test_epoch{epoch}.npy",
                  lambda handle: np.save(handle, representation.astype(storage_dtype(representation))))


def recorded_epochs(run_dir: Path) -> list[int]:
    """The epochs whose test predictions ``record.every_epoch`` wrote, in order."""
    found = Path(run_dir).glob("predictions/test_epoch*.npz")
    return sorted(int(path.stem.removeprefix("test_epoch")) for path in found)


def read_predictions(run_dir: Path, split: str = "test") -> dict[str, np.ndarray]:
    with np.load(Path(run_dir) / "predictions" / f"{split}.npz") as data:
        return {name: data[name] for name in data.files}


def read_texts(run_dir: Path, split: str = "test") -> list | None:
    """The texts of the split's items (None for records written before they were kept)."""
    path = Path(run_dir) / "predictions" / f"{split}_texts.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def representation_file(run_dir: Path, split: str = "test", layer: int | None = None) -> Path:
    name = split if layer is None else f"{split}_layer{layer}"
    return Path(run_dir) / "representations" / f"{name}.npy"


def read_representations(run_dir: Path, split: str = "test", layer: int | None = None) -> np.ndarray:
    """The final representations, or layer ``layer``'s (``record.layers``)."""
    return np.load(representation_file(run_dir, split, layer))
