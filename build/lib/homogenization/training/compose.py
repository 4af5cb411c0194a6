"""Compose the config ``homog-train`` would build, from Python (benchmarks, notebooks, tests)."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from homogenization.conf import CONFIG_MODULE
from homogenization.training import resolvers  # noqa: F401  (registers ${unique:} for composed configs)


def compose_train_config(run_dir: Path, overrides: list[str], cache_dir: Path | None = None) -> DictConfig:
    """conf/train.yaml with ``overrides``, the run written to ``run_dir`` and tokenized data
    cached in ``cache_dir`` (default: beside the run directory)."""
    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        return compose("train", overrides=[
            f"paths.output_dir={run_dir}",
            f"paths.cache_dir={cache_dir or Path(run_dir).parent / 'cache'}",
            *overrides,
        ])
