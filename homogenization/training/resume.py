"""Resume only the same job, and let one job at a time use a run directory.

Every checkpoint carries the job's identity: its resolved config minus the keys that may change
between attempts (``core.fingerprints.RESUMABLE_KEYS``). ``ckpt_path=auto`` (or ``last``) resumes
``<run dir>/checkpoints/last.ckpt`` only when that identity matches; otherwise the job stops with
the keys that differ. A job that starts fresh in a used directory first clears the outputs of the
earlier job there, so no stale checkpoint, prediction or record can be mistaken for its own.

The lock is ``<run dir>/run.lock``: an exclusive ``flock`` held for the job's lifetime, with the
holder's PID and host written in it for the message. The kernel releases it when the holder dies,
so a lock left by a dead process (a crash, SIGKILL, a requeued SLURM job) is simply taken over.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from homogenization.core.errors import UserError
from homogenization.core.fingerprints import config_digest, differing_keys, job_identity
from homogenization.core.run_record import OUTPUTS, RUN_FILE, read_record

log = logging.getLogger(__name__)
LOCK_FILE = "run.lock"
IDENTITY_KEY = "job_identity"


class RunDirBusy(UserError):
    """Another live job holds the run directory: this job must not write anything there."""


def identity_of(cfg: DictConfig) -> dict[str, str]:
    return job_identity(OmegaConf.to_container(cfg, resolve=True))


class JobIdentity(pl.Callback):
    """Writes the job's identity (and its digest) into every checkpoint."""

    def __init__(self, identity: dict[str, str]):
        self.identity = identity

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        checkpoint[IDENTITY_KEY] = {"digest": config_digest(self.identity), "keys": dict(self.identity)}


def is_launching_process() -> bool:
    """False in the extra ranks of a DDP job (started by training/ddp.py, srun or torchrun)."""
    return all(os.environ.get(name, "0") == "0" for name in ("LOCAL_RANK", "RANK", "SLURM_PROCID"))


def clear_outputs(run_dir: Path) -> list[str]:
    """Remove what an earlier job left in ``run_dir`` (checkpoints, predictions, run.json ...)."""
    removed = []
    for name in OUTPUTS:
        path = Path(run_dir) / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        removed.append(name)
    return removed


def _refuse_other_job(path: Path, saved: dict, identity: dict[str, str], ckpt_path: str) -> None:
    keys = differing_keys(saved.get("keys", {}), identity)
    if not keys:
        return
    shown = ", ".join(f"{key} ({json.loads(saved['keys'][key]) if key in saved['keys'] else 'unset'} "
                      f"-> {json.loads(identity[key]) if key in identity else 'unset'})" for key in keys[:5])
    more = f" and {len(keys) - 5} more" if len(keys) > 5 else ""
    raise UserError(f"ckpt_path={ckpt_path}: {path} belongs to another job ({shown}{more}). Run this job in "
                    "another directory (hydra.run.dir=...), or set ckpt_path=null to start it afresh here "
                    "(the old outputs are then deleted).")


def _refuse_another_jobs_record(cfg: DictConfig, run_dir: Path) -> None:
    try:
        record = read_record(run_dir)
    except ValueError:
        record = None
    if record is None or record.config is None or record.status == "failed":   # no results to keep
        return
    saved = {"keys": job_identity(record.config)}
    _refuse_other_job(Path(run_dir) / RUN_FILE, saved, identity_of(cfg), "auto")


def plan_resume(cfg: DictConfig, run_dir: Path, load_checkpoint) -> str | None:
    """The checkpoint this job resumes from, or None to start fresh (clearing old outputs).

    ``ckpt_path``: ``auto`` = the directory's ``last.ckpt`` if there is one; ``last`` = it must
    exist; a path = that checkpoint (another job's is allowed, with a warning); null = fresh.
    """
    ckpt_path = cfg.get("ckpt_path")
    last = Path(run_dir) / "checkpoints" / "last.ckpt"
    if ckpt_path == "auto" and not last.is_file():
        _refuse_another_jobs_record(cfg, run_dir)   # auto never deletes another job's results
    if ckpt_path is None or (ckpt_path == "auto" and not last.is_file()):
        if is_launching_process():
            removed = clear_outputs(run_dir)
            if removed:
                log.warning("Starting afresh in %s: removed the earlier job's %s", run_dir,
                            ", ".join(removed))
        return None
    path = last if ckpt_path in ("last", "auto") else Path(ckpt_path)
    if not path.is_file():
        raise UserError(f"ckpt_path={ckpt_path}: no checkpoint at {path}.")
    state = load_checkpoint(str(path))
    saved = state.get(IDENTITY_KEY)
    identity = identity_of(cfg)
    if ckpt_path in ("last", "auto"):
        if saved is None:
            raise UserError(f"ckpt_path={ckpt_path}: {path} does not say which job wrote it (an older "
                            "version of this framework), so it cannot be resumed safely. Run in another "
                            "directory (hydra.run.dir=...) or set ckpt_path=null to start afresh here.")
        _refuse_other_job(path, saved, identity, ckpt_path)
        if is_launching_process():
            discard_checkpoints_after(path, state)
        log.info("Resuming from %s (left by an earlier attempt of this job)", path)
    elif saved is not None and differing_keys(saved.get("keys", {}), identity):
        log.warning("ckpt_path=%s was written by a job with other settings (%s); continuing from it",
                    path, ", ".join(differing_keys(saved["keys"], identity)[:5]))
    return str(path)


def discard_checkpoints_after(last: Path, state: dict) -> list[str]:
    """Remove the checkpoints beside ``last`` that its callbacks' state does not know: written
    after it (a best checkpoint saved just before a kill), by steps the resumed job redoes. Kept,
    they would stay on disk beside the resumed job's own, which its best-checkpoint callback
    neither tracks nor deletes."""
    callbacks = [value for value in state.get("callbacks", {}).values() if isinstance(value, dict)]
    known = {Path(value).name for callback in callbacks for key, value in callback.items()
             if key in ("best_model_path", "kth_best_model_path", "last_model_path") and value}
    known |= {Path(name).name for callback in callbacks for name in (callback.get("best_k_models") or {})}
    removed = []
    for found in sorted(last.parent.glob("*.ckpt")):
        if found.name != last.name and found.name not in known:
            found.unlink()
            found.with_name(f"{found.name}.sha256").unlink(missing_ok=True)
            removed.append(found.name)
    if removed:
        log.warning("Resuming from %s: removed %s, written after it by steps this job redoes",
                    last, ", ".join(removed))
    return removed


@contextlib.contextmanager
def run_dir_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``<run_dir>/run.lock`` for the block; refuse if a live job holds it."""
    if not is_launching_process():
        yield
        return
    path = Path(run_dir) / LOCK_FILE
    handle = open(path, "a+")  # noqa: SIM115 - held open for the lifetime of the lock
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown process"
            raise RunDirBusy(f"{run_dir} is in use by another job ({holder}). Wait for it to end, or run "
                            "this one in another directory (hydra.run.dir=...).") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on host {socket.gethostname()}, since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        yield
    finally:
        handle.close()   # releases the flock; the file stays (it is not evidence of a live job)
