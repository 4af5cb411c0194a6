"""What produced a run: package versions and, when the package runs from a git checkout, its commit."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("homogenization", "torch", "pytorch-lightning", "torchmetrics", "transformers", "tokenizers",
            "hydra-core", "omegaconf", "numpy")
# The checkout this package was imported from; an installed wheel has none (its version says it all).
SOURCE_ROOT = Path(__file__).resolve().parents[2]


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit() -> str | None:
    """The checkout's commit, with '-dirty' when it has uncommitted changes; None for an installed
    package (a site-packages folder inside some other repository must not lend its commit)."""
    if not (SOURCE_ROOT / ".git").exists() or not (SOURCE_ROOT / "pyproject.toml").is_file():
        return None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=SOURCE_ROOT, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=SOURCE_ROOT, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if dirty.strip() else commit
