"""Find run directories, keep the complete and comparable ones, and name their groups.

A run directory is one that holds ``run.json`` or Hydra's ``.hydra/`` folder; ``runs=`` entries may
be run directories, sweep directories (searched recursively) or glob patterns.
"""

from __future__ import annotations

import glob
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from homogenization.errors import UserError
from homogenization.run_record import RUN_FILE, read_run_json

log = logging.getLogger(__name__)


@dataclass
class Run:
    path: Path
    record: dict
    name: str = ""
    group: str = ""

    @property
    def test_fingerprint(self) -> str:
        return self.record["data"]["splits"]["test"]["fingerprint"]


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
            dirs.extend(d for d in _run_dirs(Path(match)) if d not in dirs)
    complete, skipped = [], []
    for run_dir in dirs:
        try:
            record = read_run_json(run_dir)
        except ValueError as error:
            skipped.append((run_dir, f"{run_dir / RUN_FILE} is not valid JSON ({error})"))
            continue
        if record is None:
            skipped.append((run_dir, "no run.json (still running, or crashed before the end)"))
        elif record.get("status") != "complete":
            skipped.append((run_dir, f"status {record.get('status')!r}: {record.get('error', '')}".strip()))
        elif record.get("task") not in ("sequence_classification", "token_classification"):
            skipped.append((run_dir, f"task {record.get('task')!r} has no test predictions to compare"))
        else:
            complete.append(Run(run_dir, record))
    _name_runs(complete)
    return complete, skipped


def _name_runs(runs: list[Run]) -> None:
    """Directory names, or paths relative to the runs' common parent when names repeat."""
    names = [run.path.name for run in runs]
    if len(set(names)) < len(names):
        common = Path(os.path.commonpath([run.path.resolve() for run in runs]))
        names = [str(run.path.resolve().relative_to(common)) for run in runs]
    for run, name in zip(runs, names):
        run.name = name


def check_comparable(runs: list[Run]) -> None:
    """Refuse runs whose test sets differ, listing the runs under each fingerprint."""
    by_fingerprint: dict[str, list[str]] = {}
    for run in runs:
        by_fingerprint.setdefault(run.test_fingerprint, []).append(run.name)
    if len(by_fingerprint) > 1:
        listing = "; ".join(f"test fingerprint {fp[:12]}: {', '.join(names)}"
                            for fp, names in by_fingerprint.items())
        raise UserError(f"these runs were tested on different data and cannot be compared ({listing}); "
                        "analyze each set separately (runs=...)")


def config_value(record: dict, key: str):
    """``key`` from run.json's top level (e.g. ``model``, ``seed``) or, dotted, from its config."""
    if key in record and not isinstance(record[key], dict):
        return record[key]
    value = record.get("config", {})
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise UserError(f"group_by={key}: no such key in run.json or its config; use a config path "
                            "such as model.name or data.max_train_examples")
        value = value[part]
    return value


def assign_groups(runs: list[Run], group_by: list[str]) -> list[str]:
    """Set each run's group label (the values of ``group_by`` joined); return groups in order."""
    for run in runs:
        values = [config_value(run.record, key) for key in group_by]
        run.group = ",".join(str(v) for v in values)
    runs.sort(key=lambda r: (r.group, r.record.get("seed", 0), r.name))
    return list(dict.fromkeys(run.group for run in runs))
