"""Jobs that do not complete leave a record saying so, and a sweep says which of its jobs did not.

A failed job writes ``run.json`` with ``status: failed`` and the error, so a sweep of hundreds of
jobs shows what went wrong where, and the analysis skips (and names) it. Inside a multirun the
job then returns normally, so the launcher runs the remaining jobs; :class:`FailedJobsSummary`
(on for every multirun) ends the sweep with one line per job that is not complete, and exit
status 1 when any failed or was interrupted (a ``partial`` job, whose test loop was limited on
purpose, e.g. ``debug=fast``, is listed as a warning).
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from homogenization.core.run_record import RUN_FILE, RunRecord, read_record, write_record
from homogenization.core.signals import Stopped

log = logging.getLogger(__name__)


def write_failed_record(run_dir: Path, cfg: DictConfig, error: BaseException) -> None:
    if _recorded_already(run_dir, ("complete", "partial", "interrupted")):
        return   # the failure came after the record was written (e.g. a logger's teardown)
    write_record(run_dir, _job_record(cfg, "failed", error=f"{type(error).__name__}: {error}",
                                      traceback="".join(traceback.format_exception(error))[-5000:]))


def write_interrupted_record(run_dir: Path, cfg: DictConfig, stopped: Stopped) -> None:
    """A job stopped by a signal before its trainer existed (reading its data, checking its
    directory). Results an earlier attempt completed stay as they are."""
    if not _recorded_already(run_dir, ("complete", "partial")):
        write_record(run_dir, _job_record(cfg, "interrupted", error=str(stopped), signal=stopped.signal_name))


def _recorded_already(run_dir: Path, statuses: tuple[str, ...]) -> bool:
    try:
        previous = read_record(run_dir)
    except ValueError:
        return False
    return previous is not None and previous.status in statuses


def _job_record(cfg: DictConfig, status: str, **fields) -> RunRecord:
    try:
        config = OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # an unresolvable config is itself a possible cause
        config = OmegaConf.to_container(cfg, resolve=False)
    return RunRecord(status=status, model=(config.get("model") or {}).get("name"), seed=config.get("seed"),
                     config=config, **fields)


def write_ended_record(run_dir: Path, message: str, overrides: list[str]) -> None:
    """A job the scheduler ended without a result (cancelled, killed outside the job): record it as
    failed, keeping what an earlier record of the job said (model, seed, config), and replacing an
    ``interrupted`` one, which would promise a resume that will not come. A complete or partial
    record (the job finished before it was killed) is left alone."""
    try:
        previous = read_record(run_dir)
    except ValueError:
        previous = None
    if previous is not None and previous.status in ("complete", "partial"):
        return
    kept = {name: getattr(previous, name) for name in ("task", "model", "seed", "config", "config_digest")
            } if previous is not None else {"config": {"overrides": list(overrides)}}
    run_dir.mkdir(parents=True, exist_ok=True)
    write_record(run_dir, RunRecord(status="failed", error=message, **kept))


class FailedJobsSummary(Callback):
    """At the end of a multirun: one line per job that is not complete; exit status 1 if any failed
    or was interrupted."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        records = {}
        for path in sorted(sweep_dir.rglob(RUN_FILE)):
            try:
                records[path.parent] = read_record(path.parent)
            except ValueError as error:
                records[path.parent] = RunRecord(status="failed", error=f"unreadable run.json ({error})")
        incomplete = {path: r for path, r in records.items() if r is not None and r.status != "complete"}
        if not incomplete:
            return
        fatal = [r for r in incomplete.values() if r.status in ("failed", "interrupted")]
        report = log.error if fatal else log.warning
        report("%d of %d jobs did not complete:", len(incomplete), len(records))
        for path, record in incomplete.items():
            report("  %s: %s: %s", path.relative_to(sweep_dir), record.status, record.error)
        if fatal:
            sys.exit(1)
