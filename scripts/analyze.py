"""Compare finished runs and write a homogenization report. See `python scripts/analyze.py --help`."""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a plain checkout works too

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from core.errors import UserError  # noqa: E402
from homogenization.make_report import report_from_config  # noqa: E402

log = logging.getLogger("analyze")


@hydra.main(version_base="1.3", config_path="../conf", config_name="analyze")
def main(cfg: DictConfig) -> None:
    try:
        report_from_config(cfg)
    except UserError as error:
        log.error("error: %s", error)
        sys.exit(2)


if __name__ == "__main__":
    main()
