"""A sweep's progress, the same for every launcher: ``k of N jobs done, elapsed, about T left``.

Jobs write their records into the sweep directory whatever launched them (in this process, in
joblib workers, through submitit locally or on SLURM), so the launching process counts the records
that say a job ended (``complete``, ``partial``, ``failed``) on a background thread and logs a line
when the count changes (and at least every ``every_s`` seconds while it waits). N comes from the
sweeper: the product of the swept values (Hydra's basic sweeper), ``n_trials`` (Optuna) or the
sweeper's own ``jobs`` count; unknown otherwise, and then only k is said.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from homogenization.core.run_record import RUN_FILE, read_record

log = logging.getLogger(__name__)

ENDED = ("complete", "partial", "failed")


def planned_jobs(config: DictConfig) -> int | None:
    """How many jobs the sweep will launch, when the sweeper says."""
    sweeper = config.hydra.sweeper
    if sweeper.get("n_trials") is not None:
        return int(sweeper.n_trials)
    if sweeper.get("_target_", "").endswith("BasicSweeper"):
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.override_parser.overrides_parser import OverridesParser

        task = list(config.hydra.overrides.task)
        given = {override.split("=", 1)[0].lstrip("+~") for override in task}
        # hydra.sweeper.params (an experiment's sweep) unless the command line sets the same key
        params = [f"{key}={value}" for key, value in (sweeper.get("params") or {}).items()
                  if key not in given]
        overrides = OverridesParser.create().parse_overrides(params + task)
        return sum(len(batch) for batch in BasicSweeper.split_arguments(overrides, None))
    return None


def ended_jobs(sweep_dir: Path, seen: dict[Path, str] | None = None) -> tuple[int, int]:
    """(ended, failed) among the job directories of ``sweep_dir``. ``seen`` keeps the status of
    jobs already found ended, so a watcher reads each final record once, not every poll."""
    seen = {} if seen is None else seen
    for path in sweep_dir.rglob(RUN_FILE):      # job directories at any depth (a subdir per study arm)
        if path.parent in seen:
            continue
        try:
            record = read_record(path.parent)
        except ValueError:   # being written by a job right now
            continue
        if record is not None and record.status in ENDED:
            seen[path.parent] = record.status
    return len(seen), sum(status == "failed" for status in seen.values())


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def progress_line(ended: int, failed: int, total: int | None, elapsed: float, already: int = 0) -> str:
    """``sweep: 3 of 6 jobs done (1 failed), elapsed 2m10s, about 2m10s left``. ``already``: jobs
    that had ended before this command started (a resumed sweep), left out of the rate."""
    done = f"{ended} of {total}" if total else f"{ended}"
    line = f"sweep: {done} jobs done" + (f" ({failed} failed)" if failed else "")
    line += f", elapsed {_duration(elapsed)}"
    new = ended - already
    if total and new > 0 and ended < total:
        line += f", about {_duration(elapsed / new * (total - ended))} left"
    return line


class SweepProgress(Callback):
    """Hydra callback (``hydra.callbacks.sweep_progress``); ``every_s``: the longest silence."""

    def __init__(self, every_s: float = 60.0) -> None:
        self.every_s = float(every_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __getstate__(self) -> dict:
        """Launchers send callbacks to their job processes; the watcher stays in this one."""
        return {"every_s": self.every_s}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            total = planned_jobs(config)
        except Exception:   # a sweeper syntax Hydra itself will report
            total = None
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, args=(sweep_dir, total), daemon=True,
                                        name="sweep-progress")
        self._thread.start()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _watch(self, sweep_dir: Path, total: int | None) -> None:
        started, seen = time.monotonic(), {}
        already, _ = ended_jobs(sweep_dir, seen)
        last, said_at = (already, 0), started
        log.info("sweep: %s jobs in %s%s", total or "its", sweep_dir,
                 f" ({already} already done)" if already else "")
        log.info("sweep: if it is interrupted, the same command with hydra.sweep.dir=%s resumes it "
                 "(finished jobs only re-test, the others go on from their last checkpoint)", sweep_dir)
        while True:
            stopping = self._stop.wait(timeout=2.0)
            state = ended_jobs(sweep_dir, seen)
            now = time.monotonic()
            if state != last or now - said_at >= self.every_s or stopping:
                log.info(progress_line(*state, total, now - started, already))
                last, said_at = state, now
            if stopping:
                return
