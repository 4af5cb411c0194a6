"""A real single-node SLURM cluster for tests: munged, slurmctld and slurmd started as root with a
slurm.conf for this host (state and spool under a temporary folder, one node with the machine's
CPUs and memory, no cgroups, no accounting), stopped afterwards.

``LocalSlurm.why_not()`` says why a machine cannot run one (not root, packages missing), so the
tests that need it skip with that reason. The test suite installs nothing: CI installs the packages
(``.ci/run``); a developer machine gets them with ``apt-get install slurmctld slurmd slurm-client munge``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
BINARIES = ("slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo", "munged")


def _run(*command: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)


class LocalSlurm:
    """Start with ``start()``, stop with ``stop()``; ``env`` is the environment for SLURM commands
    and for the jobs' submitter (``SLURM_CONF`` set)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.host = socket.gethostname().split(".")[0]
        self.conf = self.root / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.processes: list[subprocess.Popen] = []
        self.started_munged = False

    @staticmethod
    def why_not() -> str | None:
        """None if this machine can run a cluster, else the reason."""
        if os.name != "posix" or os.geteuid() != 0:
            return "starting slurmctld/slurmd needs root"
        missing = [binary for binary in BINARIES if shutil.which(binary) is None]
        if missing:
            return (f"SLURM is not installed ({', '.join(missing)} missing): "
                    f"apt-get install {' '.join(PACKAGES)}")
        return None

    def _write_conf(self) -> None:
        state, spool = self.root / "state", self.root / "spool"
        for directory in (state, spool):
            directory.mkdir(parents=True, exist_ok=True)
        cpus = os.cpu_count() or 1
        memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
        self.conf.write_text("\n".join([
            "ClusterName=homogtest",
            f"SlurmctldHost={self.host}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "SlurmctldPort=16817",
            "SlurmdPort=16818",
            f"StateSaveLocation={state}",
            f"SlurmdSpoolDir={spool}",
            f"SlurmctldPidFile={self.root / 'slurmctld.pid'}",
            f"SlurmdPidFile={self.root / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.root / 'slurmctld.log'}",
            f"SlurmdLogFile={self.root / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU_Memory",
            "SchedulerType=sched/backfill",
            "MpiDefault=none",
            "ReturnToService=2",
            "JobRequeue=1",
            "KillWait=30",
            "MinJobAge=600",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "SchedulerParameters=sched_interval=2",
            f"NodeName={self.host} CPUs={cpus} RealMemory={memory_mb - 1024} State=UNKNOWN",
            "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
        ]) + "\n")

    def start(self, timeout: float = 60) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._write_conf()
        if _run("pgrep", "-x", "munged").returncode != 0:
            Path("/run/munge").mkdir(parents=True, exist_ok=True)
            done = _run("munged", "--force")
            if done.returncode != 0:
                raise RuntimeError(f"munged did not start: {done.stderr.strip()}")
            self.started_munged = True
        for daemon in ("slurmctld", "slurmd"):
            log = open(self.root / f"{daemon}.out", "w")
            self.processes.append(subprocess.Popen([daemon, "-D", "-f", str(self.conf)], stdout=log,
                                                   stderr=subprocess.STDOUT, env=self.env))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = _run("sinfo", "-h", "-o", "%T", env=self.env).stdout.strip()
            if state == "idle":
                return
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the SLURM node did not become idle (state {state!r}); see {self.root}")

    def stop(self) -> None:
        _run("scancel", "--full", "--user", "root", env=self.env)
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes = []
        if self.started_munged:
            _run("pkill", "-x", "munged")
            self.started_munged = False

    # -- helpers for tests -----------------------------------------------------------------------
    def command(self, *args: str) -> str:
        done = _run(*args, env=self.env)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def jobs(self) -> dict[str, str]:
        """Job id -> state of every job slurmctld still knows (all states)."""
        out = self.command("squeue", "-h", "-t", "all", "-o", "%i|%T")
        return dict(line.split("|", 1) for line in out.split())
