"""The analysis's pair work split into jobs: submitit jobs on local processes or a SLURM job array,
waited for through ``squeue`` (a job that left the queue without a result is one line), their results
in order. CKA's Gram tiles (``metrics/gram_tiles.py``) and the further measures
(``metrics/measures.py``) run their shares through ``run_jobs``."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from homogenization.core.errors import UserError

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class JobSplit:
    """How the Gram's tiles are computed: ``jobs`` = 1 in this process; more: that many submitit
    jobs on ``launcher`` ('local' processes or a 'slurm' job array) with their files in
    ``folder`` (shared with the jobs' machines)."""

    jobs: int = 1
    launcher: str = "local"
    folder: Path | None = None
    slurm: dict | None = None  # submitit's slurm parameters: partition, time (min), mem_gb, cpus


SHARED_PARAMETERS = ("mem_gb", "cpus_per_task", "gpus_per_node", "nodes", "tasks_per_node")


def slurm_parameters(slurm: dict) -> dict:
    """analysis.slurm as submitit's parameters: ``time`` (minutes, default 60) -> timeout_min,
    mem_gb / cpus_per_task / gpus_per_node as they are, any other key as slurm_<key> (partition,
    account, qos, ...)."""
    found = {
        key if key in SHARED_PARAMETERS else f"slurm_{key}": value
        for key, value in slurm.items()
        if key != "time"
    }
    return {"timeout_min": int(slurm.get("time", 60)), **found}


def run_jobs(compute: Callable, shares: list[list], arguments: tuple, split: JobSplit, work: str) -> list:
    """``compute(share, *arguments)`` for each share of the tiles as one submitit job (a SLURM job
    array, or local processes); their results in order. A job that fails is one line naming its
    log. ``work``: what the jobs compute, for the log."""
    import submitit

    if split.folder is None:
        raise UserError("analysis.jobs > 1 needs a work directory the jobs can write to (analysis.work_dir)")
    folder = Path(split.folder) / "jobs" / "%j"
    if split.launcher == "slurm":
        executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
        executor.update_parameters(**slurm_parameters(split.slurm or {}))
    else:
        executor = submitit.LocalExecutor(folder=folder)
        executor.update_parameters(timeout_min=int((split.slurm or {}).get("time", 60)))
    jobs = executor.map_array(compute, shares, *([value] * len(shares) for value in arguments))
    log.info(
        "%s: %d tiles in %d %s jobs (%s); waiting",
        work,
        sum(map(len, shares)),
        len(jobs),
        split.launcher,
        ", ".join(job.job_id for job in jobs),
    )
    wait_for_jobs(jobs, split.launcher)
    results = []
    for job in jobs:
        try:
            results.append(job.result())
        except Exception as error:  # submitit's FailedJobError carries the job's traceback
            cause = job_error(str(error)) or type(error).__name__
            raise UserError(
                f"analysis job {job.job_id} failed: {cause} (its log: {job.paths.stderr}); "
                "fix the cause and run the analysis again"
            ) from None
    return results


def job_error(message: str) -> str:
    """The exception line of a job's traceback in submitit's message ("OSError: ..."), or ''."""
    lines = [line.strip() for line in message.splitlines()]
    traceback_end = [i for i, line in enumerate(lines) if line.startswith("-----")]
    body = lines[: traceback_end[1]] if len(traceback_end) > 1 else lines
    found = [line for line in body if line and not line.startswith(("File ", "^", "Traceback", "-----"))]
    return found[-1] if found else ""


def wait_for_jobs(jobs: list, launcher: str, poll_s: float = 2.0, grace_s: float = 30.0) -> None:
    """Until every job has its result file. On SLURM, a job that left the queue (or ended) without
    one for ``grace_s`` is one line: submitit alone would wait for ever without SLURM accounting."""
    from homogenization.core.slurm_queue import ENDED, queue_states

    ended_at: dict[str, float] = {}
    while not all(job.paths.result_pickle.exists() for job in jobs):
        states = queue_states() if launcher == "slurm" else None
        if states is not None:  # (None: squeue could not be asked this time)
            for job in jobs:
                if job.paths.result_pickle.exists():
                    continue
                state = states.get(job.job_id)
                if state is None or state in ENDED:  # its result may take grace_s to appear
                    first = ended_at.setdefault(job.job_id, time.monotonic())
                    if time.monotonic() - first > grace_s:
                        raise UserError(
                            f"analysis job {job.job_id} ended {state or 'outside the queue'} "
                            f"without a result (its log: {job.paths.stdout}); run the analysis again"
                        )
                else:
                    ended_at.pop(job.job_id, None)
        elif launcher == "local" and any(job.done() and not job.paths.result_pickle.exists() for job in jobs):
            return  # a local process died: its result() says how
        time.sleep(poll_s)
