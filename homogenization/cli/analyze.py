"""Compare finished runs and write a homogenization report: ``homog-analyze`` (``homog-analyze --help``)."""

import logging

import hydra
from omegaconf import DictConfig

from homogenization.analysis.make_report import report_from_config
from homogenization.cli.override_keys import check_overrides
from homogenization.conf import HYDRA_CONFIG_PATH
from homogenization.core.entry_point import one_line_errors
from homogenization.core.signals import StopSignals

log = logging.getLogger("analyze")


@hydra.main(version_base="1.3", config_path=HYDRA_CONFIG_PATH, config_name="analyze")
def run(cfg: DictConfig) -> None:
    with one_line_errors(log, cfg.out, "Free space there, or choose out= (and analysis.work_dir=) on a "
                         "larger disk, and run the analysis again."), \
            StopSignals("analysing the runs", "nothing was written (the report is written at the end, as a "
                        "whole); run the same command again"):
        report_from_config(cfg)


def main() -> None:
    """The command: a misspelled key is one line before Hydra composes (cli/override_keys.py)."""
    check_overrides("analyze")
    run()


if __name__ == "__main__":
    main()
