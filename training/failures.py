"""Jobs that fail leave a record saying so, and a sweep says which of its jobs failed.

A failed job writes ``run.json`` with ``status: failed`` and the error, so a sweep of hundreds of
jobs shows what went wrong where, and the analysis skips (and names) it. Inside a multirun the
job then returns normally, so the launcher runs the remaining jobs; :class:`FailedJobsSummary`
(on for every multirun) ends the sweep with one line per failed job and exit status 1.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from homogenization.run_record import read_run_json, write_run_json

log = logging.getLogger(__name__)


def write_failed_record(run_dir: Path, cfg: DictConfig, error: BaseException) -> None:
    record = read_run_json(run_dir)
    if record and record.get("status") == "complete":
        return   # the failure came after the record was complete (e.g. a logger's teardown)
    try:
        config = OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # an unresolvable config is itself a possible cause
        config = OmegaConf.to_container(cfg, resolve=False)
    write_run_json(run_dir, {
        "status": "failed",
        "error": f"{type(error).__name__}: {error}",
        "traceback": "".join(traceback.format_exception(error))[-5000:],
        "model": cfg.model.get("name"), "seed": cfg.get("seed"), "config": config,
    })


class FailedJobsSummary(Callback):
    """At the end of a multirun: one line per failed job, and exit status 1 if any failed."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        records = {path.parent: read_run_json(path.parent) for path in sorted(sweep_dir.rglob("run.json"))}
        failed = {path: r for path, r in records.items() if r and r.get("status") == "failed"}
        if not failed:
            return
        log.error("%d of %d jobs failed:", len(failed), len(records))
        for path, record in failed.items():
            log.error("  %s: %s", path.relative_to(sweep_dir), record.get("error"))
        sys.exit(1)
