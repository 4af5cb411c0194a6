"""Compare finished runs and write a homogenization report: ``homog-analyze`` (``homog-analyze --help``)."""

import logging
import sys

import hydra
from omegaconf import DictConfig

from homogenization.analysis.make_report import report_from_config
from homogenization.cli.override_keys import check_overrides
from homogenization.conf import HYDRA_CONFIG_PATH
from homogenization.core.errors import UserError

log = logging.getLogger("analyze")


@hydra.main(version_base="1.3", config_path=HYDRA_CONFIG_PATH, config_name="analyze")
def run(cfg: DictConfig) -> None:
    try:
        report_from_config(cfg)
    except UserError as error:
        log.error("error: %s", error)
        sys.exit(2)


def main() -> None:
    """The command: a misspelled key is one line before Hydra composes (cli/override_keys.py)."""
    check_overrides("analyze")
    run()


if __name__ == "__main__":
    main()
