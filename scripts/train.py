"""Train one model, or a sweep with -m. See README.md and `python scripts/train.py --help`."""

import contextlib
import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # so a plain checkout works without `pip install -e .`
os.environ.setdefault("HOMOG_ROOT", str(ROOT))

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from hydra.types import RunMode  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from homogenization.errors import UserError  # noqa: E402
from training import resolvers  # noqa: E402, F401  (registers ${unique:})

log = logging.getLogger("train")


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Train; return the best validation value of the task's monitor (the Optuna objective).

    A failing job writes run.json with status failed. In a multirun it then returns (NaN), so the
    other jobs still run and the sweep ends with a list of failures; a single run exits non-zero.
    """
    from lightning_modules.divergence import TrainingDiverged
    from training.failures import write_failed_record
    from training.recipe import train

    try:
        record = train(cfg)
        return (record or {}).get("metrics", {}).get(f"{cfg.task.monitor}_best")
    except Exception as error:
        if isinstance(error, (UserError, TrainingDiverged)):   # one line, no traceback
            log.error("error: %s", error)
        else:
            log.exception("the job failed")
        with contextlib.suppress(Exception):
            write_failed_record(Path(cfg.paths.output_dir), cfg, error)
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            return float("nan")
        sys.exit(2 if isinstance(error, UserError) else 1)


if __name__ == "__main__":
    main()
