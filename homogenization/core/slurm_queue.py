"""The states of the user's SLURM jobs, from ``squeue`` (which needs no SLURM accounting, unlike
``sacct``, which submitit asks): the sweep launcher and the analysis's jobs wait with it."""

from __future__ import annotations

import subprocess

# SLURM job states after which a job never runs again (a requeued job is PENDING or REQUEUED).
ENDED = {"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL",
         "DEADLINE", "REVOKED", "SPECIAL_EXIT"}


def queue_states() -> dict[str, str] | None:
    """Job id (array tasks one by one) -> state, for the user's jobs slurmctld still knows (it
    keeps ended ones for MinJobAge); None when squeue cannot be asked."""
    try:
        out = subprocess.run(["squeue", "--me", "-h", "-r", "-t", "all", "-o", "%i|%T"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return dict(line.split("|", 1) for line in out.stdout.split() if "|" in line)
