"""``hydra/launcher=slurm``: the submitit SLURM launcher, with a wait that always ends.

Submission is the plugin's (one sbatch job array, resources from conf/hydra/launcher/slurm.yaml).
Waiting is ours: submitit learns a job's state from ``sacct``, which needs SLURM accounting. Without
it a job that ends without a result (``scancel``, a node failure, a requeue limit) is never seen to
end and the sweep waits forever; with it, submitit raises ``UncompletedJobError`` as a traceback.
Here the sweep polls ``squeue`` (every ``poll_s``) for the states of its jobs; a job whose result
file has not appeared ``grace_s`` after it ended, or left the queue, is recorded as failed in its
run directory (``status: failed``, the SLURM state as the error, replacing an ``interrupted``
record: a cancelled job is not resumed) and the sweep goes on; the end-of-sweep summary lists it
and exits 1. A requeued job (pre-emption, time limit, ``scontrol requeue``) is pending or running,
not ended, so the sweep waits for its next attempt.
"""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as SubmititSlurmLauncher
from omegaconf import OmegaConf

from homogenization.core.entry_point import one_line_errors
from homogenization.core.errors import UserError
from homogenization.core.slurm_queue import ENDED, queue_states
from hydra_plugins.homogenization_launchers.run_dirs import job_run_dir

log = logging.getLogger(__name__)

WAIT_KEYS = ("poll_s", "grace_s")


class SlurmLauncher(SubmititSlurmLauncher):
    """The submitit SLURM launcher with ``poll_s`` (seconds between queue checks) and
    ``grace_s`` (how long an ended job's result may take to appear) for waiting.
    ``mem_gb_per_task`` is read by ``mem_gb``'s interpolation in the config, not here."""

    def __init__(self, poll_s: float = 5.0, grace_s: float = 30.0, mem_gb_per_task: int | None = None,
                 **params: Any) -> None:
        super().__init__(**params)
        self.poll_s, self.grace_s = float(poll_s), float(grace_s)

    def executor(self):
        """The submitit executor of the launcher's settings (the plugin's mapping: shared keys as
        they are, SLURM-only keys prefixed ``slurm_``)."""
        import submitit

        params = dict(self.params)
        executor = submitit.AutoExecutor(folder=params.pop("submitit_folder"), cluster="slurm",
                                         slurm_max_num_timeout=params.pop("max_num_timeout"))
        shared = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{key if key in shared else f"slurm_{key}": value
                                      for key, value in params.items()})
        return executor

    def launch(self, job_overrides, initial_job_idx: int) -> list[JobReturn]:
        assert self.config is not None and self.hydra_context is not None
        try:
            return self._submit_and_wait(job_overrides, initial_job_idx)
        except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
            # No SLURM here (no srun/sbatch, no slurm.conf): the user's setup, not a bug - one line.
            reason = (str(error).strip().splitlines() or [type(error).__name__])[-1]
            with one_line_errors(log):
                raise UserError(f"hydra/launcher=slurm: the sweep could not be submitted "
                                f"({reason.strip()[:300]}). Run it where sbatch reaches a SLURM controller "
                                "(a login node, SLURM_CONF set), or choose another launcher "
                                "(hydra/launcher=processes).") from None

    def _submit_and_wait(self, job_overrides, initial_job_idx: int) -> list[JobReturn]:
        executor = self.executor()
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info("SLURM sweep output dir: %s", sweep_dir)
        numbers = [initial_job_idx + offset for offset in range(len(job_overrides))]
        for number, overrides in zip(numbers, job_overrides):
            log.info("\t#%d : %s", number, " ".join(filter_overrides(overrides)))
        state = Singleton.get_state()
        jobs = executor.map_array(
            self, [list(o) for o in job_overrides], ["hydra.sweep.dir"] * len(numbers), numbers,
            [f"job_id_for_{n}" for n in numbers], [state] * len(numbers))
        log.info("Submitted SLURM jobs %s; waiting (squeue every %.0f s)",
                 ", ".join(job.job_id for job in jobs), self.poll_s)
        return self._wait(jobs, [list(o) for o in job_overrides], numbers)

    def _wait(self, jobs, overrides: list[list[str]], numbers: list[int]) -> list[JobReturn]:
        returns: dict[int, JobReturn] = {}
        ended_at: dict[int, float] = {}
        seen: set[int] = set()
        started = time.monotonic()
        while len(returns) < len(jobs):
            states = queue_states()
            for index, job in enumerate(jobs):
                if index in returns:
                    continue
                if all(job.task(task).paths.result_pickle.exists() for task in range(job.num_tasks)):
                    returns[index] = self._result(job, overrides[index])
                    continue
                if states is None:
                    continue   # squeue unavailable this time: ask again
                state = states.get(job.job_id)
                if state is not None:
                    seen.add(index)
                gone = state is None and (index in seen or time.monotonic() - started > self.grace_s)
                if state in ENDED or gone:
                    first = ended_at.setdefault(index, time.monotonic())
                    if time.monotonic() - first >= self.grace_s:
                        returns[index] = self._ended_without_result(
                            job, state or "no longer in the queue", overrides[index], numbers[index])
                else:
                    ended_at.pop(index, None)   # pending or running again (requeued)
            if len(returns) < len(jobs):
                time.sleep(self.poll_s)
        return [returns[index] for index in range(len(jobs))]

    def _result(self, job, overrides: list[str]) -> JobReturn:
        import submitit

        try:
            return job.results()[0]
        except (submitit.core.utils.FailedJobError, submitit.core.utils.UncompletedJobError) as error:
            reason = str(error).strip().splitlines()[0]
            log.error("SLURM job %s failed outside the training code: %s (log: %s)", job.job_id, reason,
                      job.paths.stderr)
            return JobReturn(overrides=overrides, status=JobStatus.COMPLETED, _return_value=float("nan"))

    def _ended_without_result(self, job, state: str, overrides: list[str], number: int) -> JobReturn:
        """Record the job as failed in its run directory, so the sweep's summary lists it."""
        from homogenization.training.failures import write_ended_record

        run_dir = job_run_dir(self.hydra_context, self.config, overrides, number)
        message = (f"SLURM job {job.job_id} ended {state} without a result (cancelled, or killed "
                   f"outside the job); its log: {job.paths.stdout}")
        log.error("%s: %s", run_dir, message)
        write_ended_record(run_dir, message, overrides)
        return JobReturn(overrides=overrides, status=JobStatus.COMPLETED, _return_value=float("nan"))
