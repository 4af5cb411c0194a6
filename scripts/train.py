"""Train one model, or a sweep with -m. See README.md and `python scripts/train.py --help`."""

import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # so a plain checkout works without `pip install -e .`
os.environ.setdefault("HOMOG_ROOT", str(ROOT))

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from homogenization.errors import UserError  # noqa: E402
from training import resolvers  # noqa: E402, F401  (registers ${unique:})

log = logging.getLogger("train")


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Train; return the best validation value of the task's monitor (the Optuna objective)."""
    from training.recipe import train

    try:
        record = train(cfg)
        return (record or {}).get("metrics", {}).get(f"{cfg.task.monitor}_best")
    except UserError as error:
        log.error("error: %s", error)
        sys.exit(2)


if __name__ == "__main__":
    main()
