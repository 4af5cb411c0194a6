"""The W&B group of a study, shared by its training runs and its report run."""

from __future__ import annotations

from pathlib import Path


def sweep_group(study: str | None, sweep_dir: str | Path | None) -> str | None:
    """``<study>-<sweep dir name>``, or whichever of the two exists."""
    parts = [part for part in (study, Path(sweep_dir).name if sweep_dir else None) if part]
    return "-".join(parts) or None
