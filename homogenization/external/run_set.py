"""The run directories of one import, written all or nothing.

Folder names come from model names, so they are checked like any other path made from data: a
name that is empty, ``.`` or ``..``, hidden (starts with ``.``), holds a control character or is
longer than ``MAX_NAME`` is refused, other characters outside ``[A-Za-z0-9._-]`` become ``_``, and
two models whose folder names would be the same are refused with both names.

The whole set is written into a hidden staging folder beside ``out`` and then takes ``out``'s
place with one rename: a refused or interrupted import leaves ``out`` as it was. An ``out`` that
already exists may only hold runs imported from the same table: the new set then replaces it whole
(models no longer in the table are gone, and named in the log); anything else in it refuses the
import. Nothing outside ``out`` is removed, except this module's own leftovers of an import that
was killed (``.<out>.import.*``, ``.<out>.replaced.*``), which the next import clears or, if ``out``
itself is missing, restores.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from homogenization.core.errors import UserError
from homogenization.core.run_record import clear_stale_staging, read_record, staging_dir

log = logging.getLogger(__name__)

MAX_NAME = 100


def folder_name(model: str) -> str:
    """The folder of one model's run, or a UserError saying why the name cannot be one."""
    if any(ord(c) < 32 or ord(c) == 127 for c in model):
        raise UserError(f"model {model!r}: holds a control character; a model name becomes a folder name")
    if model.strip() in ("", ".", "..") or model.startswith("."):
        raise UserError(f"model {model!r}: cannot be a folder name (empty, '.', '..' or hidden); rename the "
                        "model in the table")
    if len(model) > MAX_NAME:
        raise UserError(f"model {model[:40]!r}...: {len(model)} characters; a model name becomes a folder "
                        f"name of at most {MAX_NAME}")
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in model)


def folder_names(models: list[str]) -> dict[str, str]:
    """model -> folder, every name checked and no two models on one folder."""
    folders: dict[str, str] = {}
    owner: dict[str, str] = {}
    for model in models:
        folder = folder_name(model)
        if folder.lower() in owner:   # case-insensitive file systems (macOS, Windows) too
            raise UserError(f"models {owner[folder.lower()]!r} and {model!r} would both be written to the "
                            f"folder {folder!r}; rename one of them in the table")
        owner[folder.lower()] = model
        folders[model] = folder
    return folders


def _imported_from(run_dir: Path) -> str | None:
    try:
        return (read_record(run_dir).config or {}).get("imported_from")
    except Exception:   # not a run at all, or a damaged one: not ours to replace
        return None


def check_replaceable(out: Path, table: Path) -> list[str]:
    """The runs of an earlier import of ``table`` in ``out`` (to be replaced), or a UserError when
    ``out`` holds anything else; [] for a new ``out``."""
    if not out.exists():
        return []
    if not out.is_dir():
        raise UserError(f"out={out}: is a file; choose a folder for the imported runs")
    source = str(table.resolve())
    foreign = [entry.name for entry in sorted(out.iterdir())
               if not (entry.is_dir() and _imported_from(entry) == source)]
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise UserError(f"out={out}: holds {foreign[0]!r}{more}, which is not a run imported from {table}; "
                        "choose an empty or new out= (an import replaces only its own earlier runs)")
    return [entry.name for entry in sorted(out.iterdir())]


def recover(out: Path) -> None:
    """Clear what a killed import left beside ``out``; put back an ``out`` it had moved aside."""
    parent = out.parent
    if not parent.is_dir():
        return
    for leftover in sorted(parent.glob(f".{out.name}.replaced.*")):
        if not out.exists():
            leftover.rename(out)
            log.warning("restored %s from an import that was stopped while replacing it", out)
        else:
            shutil.rmtree(leftover, ignore_errors=True)
    clear_stale_staging(parent, f"{out.name}.import")


def write_run_set(out: Path, table: Path, write_runs) -> None:
    """``write_runs(staging)`` writes every run into ``staging``; then the set becomes ``out``."""
    out = Path(out)
    recover(out)
    previous = check_replaceable(out, table)
    staging = staging_dir(out.parent, f"{out.name}.import")
    try:
        write_runs(staging)
        written = sorted(entry.name for entry in staging.iterdir())
        if out.exists():
            aside = staging_dir(out.parent, f"{out.name}.replaced")
            aside.rmdir()
            out.rename(aside)
            staging.rename(out)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            staging.rename(out)
    except BaseException:   # refused, a full disk, a stop signal: out stays as it was
        shutil.rmtree(staging, ignore_errors=True)
        raise
    gone = sorted(set(previous) - set(written))
    if gone:
        log.warning("out=%s: %d run(s) of the earlier import of this table are no longer in it and were "
                    "removed: %s", out, len(gone), ", ".join(gone))
