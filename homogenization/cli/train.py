"""Train one model, or a sweep with -m: ``homog-train`` (README.md; ``homog-train --help``)."""

import contextlib
import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from homogenization.cli.override_keys import check_overrides
from homogenization.conf import HYDRA_CONFIG_PATH
from homogenization.core.disk_space import disk_full_error, not_writable_error
from homogenization.core.errors import UserError
from homogenization.core.signals import Stopped
from homogenization.training import resolvers  # noqa: F401  (registers ${unique:}, ${cwd:})
from homogenization.training.quiet import silence_unactionable

log = logging.getLogger("train")
silence_unactionable()   # before Hydra composes the config (its search-path warning)


@hydra.main(version_base="1.3", config_path=HYDRA_CONFIG_PATH, config_name="train")
def run(cfg: DictConfig) -> float | None:
    """Train; return the best validation value of the task's monitor (the Optuna objective).

    A failing job writes run.json with status failed. In a multirun it then returns (NaN), so the
    other jobs still run and the sweep ends with a list of failures; a single run exits non-zero.
    A job stopped by a signal writes status interrupted and exits with 128 + the signal number.
    """
    from homogenization.training.config_checks import check_config

    try:
        check_config(cfg)      # before torch is imported: a wrong value costs no start-up time
    except UserError as error:
        log.error("error: %s", error)
        return fail(cfg, error)

    from homogenization.core.run_record import RecordError
    from homogenization.training.callbacks.divergence import TrainingDiverged
    from homogenization.training.recipe import train
    from homogenization.training.resume import RunDirBusy

    try:
        record = train(cfg)
        return (record or {}).get("metrics", {}).get(f"{cfg.task.monitor}_best")
    except Stopped as interruption:
        log.error("interrupted: %s", interruption)
        if interruption.previous_handler is not None:   # submitit's requeue on SIGUSR2
            interruption.previous_handler(interruption.signal_number, None)
        sys.exit(interruption.exit_status)
    except Exception as error:
        error = disk_full_error(error, cfg.paths.output_dir, "Free space there (or set hydra.run.dir on a "
                                "larger disk) and run the same command again.") or \
            not_writable_error(error, cfg.paths.output_dir) or error
        if isinstance(error, (UserError, TrainingDiverged, RecordError)):
            log.error("error: %s", error)   # one line, no traceback
        else:
            log.exception("the job failed")
        return fail(cfg, error, owns_run_dir=not isinstance(error, RunDirBusy))


def fail(cfg: DictConfig, error: Exception, owns_run_dir: bool = True) -> float:
    """Write the failed record (not into another job's directory); NaN inside a multirun (the
    sweep goes on), else exit non-zero."""
    from homogenization.training.failures import write_failed_record

    if owns_run_dir:
        with contextlib.suppress(Exception):
            write_failed_record(Path(cfg.paths.output_dir), cfg, error)
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        return float("nan")
    sys.exit(2 if isinstance(error, UserError) else 1)


def main() -> None:
    """The command: a misspelled key is one line before Hydra composes (cli/override_keys.py)."""
    check_overrides("train")
    run()


if __name__ == "__main__":
    main()
