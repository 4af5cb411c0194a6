"""A full disk named as such: which file could not be written, how much room is left, the fix.

Every place the project writes stages its file next to the destination and renames it into place
(``run_record.atomic_write``, checkpoints, the report's folder, the token cache), so a full disk
leaves nothing half-written; these helpers turn the ``OSError`` (or torch's ``RuntimeError``) into
one line for the user instead of a traceback.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from homogenization.core.errors import UserError

NO_ROOM_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def is_no_room(error: BaseException) -> bool:
    """Whether ``error`` says the disk (or the user's quota) is full. torch.save reports a full
    disk as a RuntimeError from its writer ("... file write failed"), without an errno."""
    if isinstance(error, OSError) and error.errno is not None:
        return error.errno in NO_ROOM_ERRNOS
    text = str(error).lower()
    if any(words in text for words in ("no space left on device", "disk quota exceeded", "file too large")):
        return True   # also libraries' own errors (HF tokenizers: "... (os error 28)")
    return isinstance(error, RuntimeError) and "write" in text and "failed" in text


def free_mb(path: Path) -> float | None:
    """Free space on the disk holding ``path`` (its nearest existing parent), in MB."""
    path = Path(path)
    for candidate in (path, *path.parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free / 2**20
    return None


def no_room(path: Path, what: str, fix: str) -> UserError:
    """``<path>: no room on its disk to write <what> (N MB free). <fix>``"""
    free = free_mb(Path(path))
    left = f"{free:.0f} MB free" if free is not None else "its free space unknown"
    return UserError(f"{path}: no room on its disk to write {what} ({left}). {fix}")


@contextmanager
def room_for(path: Path, what: str, fix: str) -> Iterator[None]:
    """Run the body; a full disk in it becomes :func:`no_room`'s one line."""
    try:
        yield
    except (OSError, RuntimeError) as error:
        if not is_no_room(error):
            raise
        raise no_room(path, what, fix) from None


def reserve(path: Path, size: int) -> None:
    """Allocate ``size`` bytes of the file ``path`` on its disk now: a memory-mapped file that is
    only sparse would kill the process with SIGBUS when a full disk cannot back a page written
    later, instead of raising."""
    with open(path, "r+b") as handle:
        os.posix_fallocate(handle.fileno(), 0, size)


def disk_full_error(error: BaseException, where: Path | str | None, fix: str) -> UserError | None:
    """``error`` as :func:`no_room`'s one line if it says the disk is full (naming the file it
    names, else ``where``), else None: the entry points' net for writes made by libraries."""
    if not is_no_room(error):
        return None
    return no_room(Path(getattr(error, "filename", None) or where or "."), "a file", fix)


NOT_WRITABLE_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
WHERE_TO_WRITE = ("run from a folder you can write, or choose one: out= (homog-analyze, homog-import), "
                  "hydra.run.dir= / hydra.sweep.dir= or the HOMOG_ROOT environment variable (homog-train)")


def not_writable_error(error: BaseException, where: Path | str | None) -> UserError | None:
    """A file or folder the user may not write (permissions, a read-only disk) or read, as one
    line naming it and where to write instead; None for any other error."""
    if not isinstance(error, OSError) or error.errno not in NOT_WRITABLE_ERRNOS:
        return None
    path = Path(getattr(error, "filename", None) or where or ".").absolute()
    reason = "a read-only file system" if error.errno == errno.EROFS else "permission denied"
    if path.exists() and not os.access(path, os.R_OK):      # a file or folder read, not written
        return UserError(f"{path}: cannot be read ({reason}); make it readable (chmod) or copy it to a "
                         "folder of yours")
    if not path.exists():      # a file or folder that could not be made: name the folder that refused it
        path = next(p for p in path.parents if p.exists())
    return UserError(f"{path}: cannot be written ({reason}); {WHERE_TO_WRITE}")


def check_writable(folder: Path | str) -> None:
    """Refuse, in one line, an output folder that cannot be made: its nearest existing parent
    is not a writable folder (the check Hydra's own folder creation would fail on)."""
    folder = Path(folder).absolute()
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise UserError(f"{existing}: a file where the output folder {folder} should be; {WHERE_TO_WRITE}")
    if not os.access(existing, os.W_OK | os.X_OK):
        reason = "permission denied"
        if os.statvfs(existing).f_flag & os.ST_RDONLY:
            reason = "a read-only file system"
        raise UserError(f"{existing}: cannot be written ({reason}), so {folder} cannot be made; "
                        f"{WHERE_TO_WRITE}")


def exit_if_disk_full(error: BaseException, where: Path | str | None, fix: str, log) -> None:
    """An entry point's net: a full disk, or a folder that may not be written, is its one line
    on ``log`` and exit status 2; any other error is left to the caller (which re-raises it)."""
    full = disk_full_error(error, where, fix) or not_writable_error(error, where)
    if full is not None:
        log.error("error: %s", full)
        raise SystemExit(2)
