"""Checkpoints written atomically and loaded without executing pickled code.

A job killed while writing ``last.ckpt`` must not leave a truncated file that breaks the resume:
the checkpoint goes to a temporary file in the same directory, then is renamed over the old one.
Loading uses ``torch.load(weights_only=True)``; a checkpoint that would need arbitrary code to
unpickle is refused with a message instead of being trusted.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from homogenization.errors import UserError


class SafeCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        path = Path(path)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            super().save_checkpoint(checkpoint, temporary, storage_options)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)

    def load_checkpoint(self, path, map_location: Any | None = None, weights_only: bool | None = None):
        try:
            return super().load_checkpoint(path, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as error:
            raise UserError(f"{path}: refused to load this checkpoint: it needs to execute pickled code "
                            f"({str(error).splitlines()[0][:200]}). Only load checkpoints you made, or "
                            "re-save its state_dict with plain tensors.") from None
        except (EOFError, RuntimeError) as error:
            raise UserError(f"{path}: the checkpoint is truncated or corrupted ({error}); delete it to "
                            "start fresh, or point ckpt_path= at another one") from None
