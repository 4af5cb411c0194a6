"""On-disk cache of tokenized splits, keyed by the data and the tokenizer settings.

A second run on the same data with the same tokenizer loads the token ids (and the trained
vocabulary) instead of training and tokenizing again. Entries are written to a temporary
directory and renamed into place, so a crashed run never leaves a half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

CACHE_FORMAT = 1


def cache_key(**material) -> str:
    text = json.dumps({"format": CACHE_FORMAT, **material}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def load(cache_dir: Path, key: str) -> tuple[Tokenizer, dict[str, list[np.ndarray]]] | None:
    entry = Path(cache_dir) / key
    if not (entry / "complete").exists():
        return None
    tokenizer = Tokenizer.from_file(str(entry / "tokenizer.json"))
    splits = {}
    with np.load(entry / "ids.npz") as data:
        for name in json.loads((entry / "complete").read_text())["splits"]:
            flat, offsets = data[f"{name}_ids"], data[f"{name}_offsets"]
            splits[name] = np.split(flat, offsets[1:-1])
    return tokenizer, splits


def save(cache_dir: Path, key: str, tokenizer: Tokenizer, splits: dict[str, list[list[int]]]) -> None:
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    if (cache_dir / key / "complete").exists():
        return
    tmp = Path(tempfile.mkdtemp(dir=cache_dir, prefix=f".{key}."))
    try:
        tokenizer.save(str(tmp / "tokenizer.json"))
        arrays = {}
        for name, ids in splits.items():
            lengths = np.array([len(row) for row in ids], dtype=np.int64)
            arrays[f"{name}_offsets"] = np.concatenate([[0], np.cumsum(lengths)])
            arrays[f"{name}_ids"] = np.fromiter(
                (token for row in ids for token in row), dtype=np.int32, count=int(lengths.sum())
            )
        np.savez(tmp / "ids.npz", **arrays)
        (tmp / "complete").write_text(json.dumps({"splits": list(splits)}))
        try:
            tmp.rename(cache_dir / key)
        except OSError:  # another job wrote the same entry first
            if not (cache_dir / key / "complete").exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
