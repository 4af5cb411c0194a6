"""Compare finished runs and write a homogenization report: ``homog-analyze`` (``homog-analyze --help``)."""

import logging
import sys

import hydra
from omegaconf import DictConfig

from homogenization.analysis.make_report import report_from_config
from homogenization.cli.override_keys import check_overrides
from homogenization.conf import HYDRA_CONFIG_PATH
from homogenization.core.disk_space import exit_if_disk_full
from homogenization.core.errors import UserError
from homogenization.core.signals import Stopped, StopSignals

log = logging.getLogger("analyze")


@hydra.main(version_base="1.3", config_path=HYDRA_CONFIG_PATH, config_name="analyze")
def run(cfg: DictConfig) -> None:
    try:
        with StopSignals("analysing the runs", "nothing was written (the report is written at the end, "
                         "as a whole); run the same command again"):
            report_from_config(cfg)
    except Stopped as stopped:
        log.error("interrupted: %s", stopped)
        sys.exit(stopped.exit_status)
    except UserError as error:
        log.error("error: %s", error)
        sys.exit(2)
    except (OSError, RuntimeError) as error:
        exit_if_disk_full(error, cfg.out, "Free space there, or choose out= (and analysis.work_dir=) on "
                          "a larger disk, and run the analysis again.", log)
        raise


def main() -> None:
    """The command: a misspelled key is one line before Hydra composes (cli/override_keys.py)."""
    check_overrides("analyze")
    run()


if __name__ == "__main__":
    main()
