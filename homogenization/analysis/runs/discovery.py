"""Find run directories, keep the complete and comparable ones, and name their groups.

A run directory is one that holds ``run.json`` or Hydra's ``.hydra/`` folder; ``runs=`` entries may
be run directories, sweep directories (searched recursively) or glob patterns.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from homogenization.core.errors import UserError
from homogenization.core.run_record import RUN_FILE, RunRecord, read_record

log = logging.getLogger(__name__)


COMPARABLE_TASKS = ("sequence_classification", "token_classification")


@dataclass
class Run:
    path: Path
    record: RunRecord
    name: str = ""
    group: str = ""

    @property
    def test_fingerprint(self) -> str | None:
        return self.record.test_fingerprint


def _run_dirs(root: Path) -> list[Path]:
    if (root / RUN_FILE).exists() or (root / ".hydra").is_dir():
        return [root]
    found = {p.parent for p in root.rglob(RUN_FILE)} | {p.parent for p in root.rglob(".hydra")}
    return sorted(found)


def find_runs(patterns: list[str]) -> tuple[list[Run], list[tuple[Path, str]]]:
    """Complete runs under ``patterns``, and (directory, reason) for every run that was skipped."""
    dirs: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(str(pattern))) if glob.has_magic(str(pattern)) else [pattern]
        if not matches or not all(Path(m).exists() for m in matches):
            raise UserError(f"runs={pattern}: no such file or directory; give run directories, sweep "
                            "directories or glob patterns")
        for match in matches:
            if Path(match).is_file() and not glob.has_magic(str(pattern)):   # a glob may match files too
                raise UserError(f"runs={match}: a file; give the run's directory (the one holding "
                                f"{RUN_FILE}), a sweep directory or a glob pattern")
            dirs.extend(d for d in _run_dirs(Path(match)) if d not in dirs)
    complete, skipped, seen = [], [], {}
    for run_dir in dirs:
        try:
            record = read_record(run_dir)
        except (ValueError, TypeError) as error:
            skipped.append((run_dir, f"{run_dir / RUN_FILE} is not a run record ({error})"))
            continue
        reason = skip_reason(record) or same_run(run_dir, record, seen)
        if reason:
            skipped.append((run_dir, reason))
        else:
            complete.append(Run(run_dir, record))
    _name_runs(complete)
    return complete, skipped


def _file_digest(run_dir: Path) -> str:
    digest = hashlib.sha256()
    for name in (RUN_FILE, "predictions/test.npz"):
        path = run_dir / name
        digest.update(path.read_bytes() if path.is_file() else b"")
    return digest.hexdigest()


def _imported_content(run_dir: Path, record: RunRecord) -> str:
    """What an imported run is, whatever its folder or file bytes (a zip's timestamps): the model's
    name, the test set, the labels, and the predictions and probabilities row by row."""
    import numpy as np

    digest = hashlib.sha256(json.dumps([record.model, record.test_fingerprint, record.labels]).encode())
    try:
        with np.load(run_dir / "predictions" / "test.npz") as arrays:
            for name in sorted(arrays.files):
                digest.update(name.encode())
                digest.update(np.ascontiguousarray(arrays[name]).tobytes())
    except (OSError, ValueError):
        return f"unreadable:{run_dir.resolve()}"    # the run's own checks name it later
    return digest.hexdigest()


def same_run(run_dir: Path, record: RunRecord, seen: dict[str, Path]) -> str | None:
    """Why ``run_dir`` is a run already found (counted once, never as a second seed), else None:
    the same directory reached twice (a symlink), a byte-identical copy, or a job with the same
    resolved config and seeds. ``seen`` collects the keys of the runs kept so far."""
    keys = {"path": str(run_dir.resolve()), "files": _file_digest(run_dir)}
    if record.config_digest:
        keys["config"] = json.dumps([record.config_digest, record.seeds, record.seed], default=str)
    if (record.training or {}).get("imported"):
        keys["content"] = _imported_content(run_dir, record)
    what = {"path": "the same directory as", "files": "a byte-identical copy of",
            "config": "the same job (same resolved config and seeds) as",
            "content": "the same imported model (same name, test items, labels, predictions and "
                       "probabilities; imported twice) as"}
    for kind, key in keys.items():
        if f"{kind}:{key}" in seen:
            return f"{what[kind]} {seen[f'{kind}:{key}']}: counted once"
    for kind, key in keys.items():
        seen[f"{kind}:{key}"] = run_dir
    return None


def skip_reason(record: RunRecord | None) -> str | None:
    """Why a run cannot be analyzed, in one line; None when it can."""
    if record is None:
        return "no run.json (still running, or crashed before the end)"
    if record.status != "complete":
        return f"status {record.status}: {record.error or ''}".strip()
    if record.task not in COMPARABLE_TASKS:
        return f"task {record.task!r} has no test predictions to compare"
    return None


def _name_runs(runs: list[Run]) -> None:
    """Directory names, or paths relative to the runs' common parent when names repeat."""
    names = [run.path.name for run in runs]
    if len(set(names)) < len(names):
        common = Path(os.path.commonpath([run.path.resolve() for run in runs]))
        names = [str(run.path.resolve().relative_to(common)) for run in runs]
    for run, name in zip(runs, names):
        run.name = name


def check_comparable(runs: list[Run]) -> None:
    """Refuse runs whose test sets or label sets differ, listing the runs under each."""
    for what, key in (("were tested on different data",
                       lambda run: f"test fingerprint {run.test_fingerprint}"),
                      ("have different label sets", lambda run: f"labels {run.record.labels}")):
        by_value: dict[str, list[str]] = {}
        for run in runs:
            by_value.setdefault(key(run), []).append(run.name)
        if len(by_value) > 1:
            listing = "; ".join(f"{value[:40]}: {', '.join(names)}" for value, names in by_value.items())
            raise UserError(f"these runs {what} and cannot be compared ({listing}); analyze each set "
                            "separately (runs=...)")


def config_value(record: RunRecord, key: str):
    """``key`` from run.json (a top-level field such as ``model`` or ``seed``, or a dotted path into
    one of its tables such as ``training.parameters``) or else, dotted, from its config."""
    value = _walk(dataclasses.asdict(record), key)
    if value is not _MISSING and value is not None and not isinstance(value, dict):
        return value
    value = _walk(record.config or {}, key)
    if value is _MISSING:
        raise UserError(f"group_by={key}: no such key in run.json or its config; use a config path "
                        "such as model.name or data.max_train_examples, or a run.json path such as "
                        "training.parameters")
    return value


_MISSING = object()


def _walk(tree: dict, key: str):
    """The value at dotted ``key`` in nested dicts, or _MISSING where the path ends."""
    value = tree
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def readable(values: list[str]) -> list[str]:
    """Path-like values (``backbone=/runs/pretrain/seed1/pretrained``, ...) without the leading
    and trailing path parts they all share (``seed1``, ...); other values unchanged."""
    if len(set(values)) < 2 or not all("/" in value for value in values):
        return values
    parts = [value.rstrip("/").split("/") for value in values]
    lead = len(os.path.commonprefix(parts))
    trail = len(os.path.commonprefix([p[::-1] for p in parts]))
    trail = max(0, min(trail, min(len(p) for p in parts) - lead - 1))   # keep at least one part
    short = ["/".join(p[lead:len(p) - trail] or p[-1:]) for p in parts]
    return short if len(set(short)) == len(set(values)) else values


def assign_groups(runs: list[Run], group_by: list[str]) -> list[str]:
    """Set each run's group label (the values of ``group_by`` joined, path-like values made
    readable); return groups in order."""
    columns = [readable([str(config_value(run.record, key)) for run in runs]) for key in group_by]
    for index, run in enumerate(runs):
        run.group = ",".join(column[index] for column in columns)
    runs.sort(key=lambda r: (r.group, r.record.seed or 0, r.name))
    return list(dict.fromkeys(run.group for run in runs))
