"""The Hydra configs (``train.yaml``, ``analyze.yaml`` and one folder per config group), shipped as
package data so that a wheel, an editable install and a checkout read the same files.
``conf/`` at the repository's top is a link to this folder."""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

CONFIG_MODULE = "homogenization.conf"
HYDRA_CONFIG_PATH = f"pkg://{CONFIG_MODULE}"   # for hydra.main and initialize_config_module


def config_file(*parts: str) -> Traversable:
    """A file of this folder, e.g. ``config_file("analysis", "default.yaml")``."""
    return files(CONFIG_MODULE).joinpath(*parts)
