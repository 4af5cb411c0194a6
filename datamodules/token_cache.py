"""On-disk cache of tokenized splits, keyed by the data and the tokenizer settings.

A second run on the same data with the same tokenizer loads the token ids (and the trained
vocabulary) instead of training and tokenizing again. Entries are written to a temporary
directory and renamed into place, so a crashed run never leaves a half-written entry.

An entry holds, per split, named integer fields with one variable-length row per example
(``ids``; ``word_ids`` for token tasks), stored flat with offsets.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from homogenization.core.disk_space import free_mb, is_no_room
from homogenization.core.run_record import staging_dir

log = logging.getLogger(__name__)

CACHE_FORMAT = 5   # 4: token-task words encoded as running text; 5: rows name their sentence
Rows = list[list[int]]


def cache_key(**material) -> str:
    text = json.dumps({"format": CACHE_FORMAT, **material}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@contextlib.contextmanager
def building(cache_dir: Path | None, key: str) -> Iterator[None]:
    """Hold an exclusive lock on the entry ``key`` while it is looked up and, if missing, built."""
    if cache_dir is None:
        yield
        return
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(cache_dir) / f".{key}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def load(cache_dir: Path, key: str) -> tuple[Tokenizer, dict[str, dict[str, list[np.ndarray]]]] | None:
    entry = Path(cache_dir) / key
    if not (entry / "complete").exists():
        return None
    tokenizer = Tokenizer.from_file(str(entry / "tokenizer.json"))
    layout = json.loads((entry / "complete").read_text())
    splits: dict[str, dict[str, list[np.ndarray]]] = {}
    with np.load(entry / "tokens.npz") as data:
        for split, fields in layout.items():
            splits[split] = {}
            for field in fields:
                flat, offsets = data[f"{split}.{field}"], data[f"{split}.{field}.offsets"]
                splits[split][field] = np.split(flat, offsets[1:-1])
    return tokenizer, splits


def save(cache_dir: Path, key: str, tokenizer: Tokenizer, splits: dict[str, dict[str, Rows]]) -> None:
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    if (cache_dir / key / "complete").exists():
        return
    tmp = None
    try:
        tmp = staging_dir(cache_dir, key)
        tokenizer.save(str(tmp / "tokenizer.json"))
        arrays = {}
        for split, fields in splits.items():
            for field, rows in fields.items():
                lengths = np.array([len(row) for row in rows], dtype=np.int64)
                arrays[f"{split}.{field}.offsets"] = np.concatenate([[0], np.cumsum(lengths)])
                arrays[f"{split}.{field}"] = np.fromiter(
                    (value for row in rows for value in row), dtype=np.int32, count=int(lengths.sum())
                )
        np.savez(tmp / "tokens.npz", **arrays)
        layout = {split: list(fields) for split, fields in splits.items()}
        (tmp / "complete").write_text(json.dumps(layout))
        try:
            tmp.rename(cache_dir / key)
        except OSError:  # another job wrote the same entry first
            if not (cache_dir / key / "complete").exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException as error:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if not is_no_room(error):
            raise
        log.warning("%s: no room on its disk for the token cache (%.0f MB free); going on without it "
                    "(free space there, or set paths.cache_dir, to cache the tokenized data)",
                    cache_dir, free_mb(cache_dir) or 0)
