"""Fingerprints: of a data split (are two runs' test sets the same?) and of a job's config (may this
checkpoint be resumed by this job?)."""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

# Config keys that may differ between the attempts of one job without changing what it computes:
# where things are written, how progress is shown and logged, and how a resume is asked for. Every
# other key (seeds, model, data, optimizer, trainer schedule ...) is part of the job's identity.
# A key matches an entry equal to it, below it, or matching it as an fnmatch pattern.
RESUMABLE_KEYS = (
    "paths",
    "logger",
    "ckpt_path",
    "torch_threads",
    "study",
    "callbacks.*.dirpath",
    "callbacks.progress_bar",
    "callbacks.epoch_summary",
    "callbacks.lr_monitor",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "trainer.log_every_n_steps",
    "trainer.default_root_dir",
    "data.num_workers",
    "data.pin_memory",
    "data.cache_dir",
)


def fingerprint(rows: Iterable[tuple[str, str]]) -> str:
    """sha256 over (text, label name) pairs, in order: equal iff two runs saw the same split."""
    digest = hashlib.sha256()
    for text, label in rows:
        digest.update(text.encode("utf-8"))
        digest.update(b"\t")
        digest.update(label.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists are leaves."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def is_bookkeeping(key: str) -> bool:
    """Whether a config key is one of RESUMABLE_KEYS (or below one): it never changes a result."""
    return any(key == k or key.startswith(f"{k}.") or fnmatch.fnmatchcase(key, k) for k in RESUMABLE_KEYS)


def job_identity(config: Mapping[str, Any]) -> dict[str, str]:
    """The resolved config's keys that define what the job computes, values as JSON text."""
    return {key: json.dumps(value, sort_keys=True, default=str)
            for key, value in sorted(flatten(config).items()) if not is_bookkeeping(key)}


def config_digest(identity: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(dict(identity), sort_keys=True).encode("utf-8")).hexdigest()


def differing_keys(saved: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    return sorted(key for key in set(saved) | set(current) if saved.get(key) != current.get(key))
