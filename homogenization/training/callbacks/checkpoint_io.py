"""Checkpoints written atomically and loaded without executing pickled code.

A job killed while writing ``last.ckpt`` must not leave a truncated file that breaks the resume:
the checkpoint is staged in a temporary file in the same directory (so on the same filesystem),
then renamed over the old one. A full disk is one line, and the old checkpoint stays intact.
Loading uses ``torch.load(weights_only=True)``; a checkpoint that would need arbitrary code to
unpickle is refused with a message instead of being trusted.

Each checkpoint has its SHA-256 beside it (``<name>.sha256``), written before the checkpoint is
renamed into place and holding the previous checkpoint's digest too, so that a kill between the
two writes leaves a pair that still verifies. A checkpoint whose bytes match neither (a damaged
disk block, a partial copy: torch.load does not notice a few kB overwritten inside a tensor) is
one line, before anything is restored from it.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from homogenization.core.disk_space import is_no_room, no_room
from homogenization.core.errors import UserError


class SafeCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        path = Path(path)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            super().save_checkpoint(checkpoint, temporary, storage_options)
            previous = recorded_digests(path)[:1]
            write_digests(path, [file_digest(temporary), *previous])
            os.replace(temporary, path)
        except (OSError, RuntimeError) as error:
            if not is_no_room(error):
                raise
            raise no_room(path, "this checkpoint", "The previous checkpoint is intact: free space (or set "
                          "hydra.run.dir on a larger disk) and run the same command to resume.") from None
        finally:
            temporary.unlink(missing_ok=True)

    def load_checkpoint(self, path, map_location: Any | None = None, weights_only: bool | None = None):
        return self._safely(path, lambda: super(SafeCheckpointIO, self).load_checkpoint(
            path, map_location=map_location, weights_only=True))

    def peek(self, path) -> dict[str, Any]:
        """The checkpoint memory-mapped: its metadata and tensor shapes without reading the weights
        (the resume checks look before Lightning loads it)."""
        return self._safely(path, lambda: torch.load(path, map_location="cpu", weights_only=True, mmap=True))

    def remove_checkpoint(self, path) -> None:
        super().remove_checkpoint(path)
        digest_path(Path(path)).unlink(missing_ok=True)

    @staticmethod
    def _safely(path, load):
        verify(Path(path))
        try:
            return load()
        except pickle.UnpicklingError as error:
            raise UserError(f"{path}: refused to load this checkpoint: it needs to execute pickled code "
                            f"({str(error).splitlines()[0][:200]}). Only load checkpoints you made, or "
                            "re-save its state_dict with plain tensors.") from None
        except (EOFError, RuntimeError) as error:
            raise UserError(f"{path}: the checkpoint is truncated or corrupted ({error}); delete it to "
                            "start fresh, or point ckpt_path= at another one") from None


def digest_path(path: Path) -> Path:
    return path.with_name(f"{path.name}.sha256")


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(2**22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def recorded_digests(path: Path) -> list[str]:
    """The digests written with ``path``'s last two versions (newest first), or [] without a file."""
    try:
        return digest_path(path).read_text().split()
    except (OSError, UnicodeDecodeError):
        return []


def write_digests(path: Path, digests: list[str]) -> None:
    target = digest_path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_text("\n".join(digests) + "\n")
    os.replace(temporary, target)


_VERIFIED: set[tuple[str, int, int]] = set()   # (path, size, mtime) already hashed in this process


def verify(path: Path) -> None:
    """One line if ``path`` is not a checkpoint this IO wrote whole (no digest file: not checked).
    A resume looks at the checkpoint, then Lightning loads it: the file is hashed once."""
    digests = recorded_digests(path)
    if not digests or not path.is_file():
        return
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _VERIFIED:
        return
    if file_digest(path) in digests:
        _VERIFIED.add(key)
    else:
        raise UserError(f"{path}: this checkpoint is damaged (its bytes do not match the SHA-256 "
                        f"written with it in {digest_path(path).name}); nothing was restored from it. "
                        "Set ckpt_path=null to start this job afresh, or put back an intact copy.")
