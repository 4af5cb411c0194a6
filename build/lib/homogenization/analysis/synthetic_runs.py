"""Synthetic run directories with chosen predictions and representations, for the analysis's
tests and benchmarks (the analysis reads run directories only; real training runs feed it in
tests/test_multirun.py). The files are written as they
are given, without the checks of core.run_record.write_test_record, so the analysis's own
defences against bad records can be tested too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from homogenization.core.run_record import RunRecord, write_record


def write_run(run_dir: Path, pred: np.ndarray, label: np.ndarray, representations: np.ndarray,
              model: str = "m", seed: int = 1, fingerprint: str = "test-set", labels=("neg", "pos"),
              sentence_id: np.ndarray | None = None, status: str = "complete", steps: int = 10,
              probs: np.ndarray | None = None, texts: list | None = None,
              layers: list[np.ndarray] | None = None, config: dict | None = None,
              epochs: list[tuple[np.ndarray, np.ndarray]] | None = None) -> Path:
    """A record with these outputs (``probs``: one-hot on ``pred`` unless given); token-task rows
    when ``sentence_id`` is given."""
    n_classes = len(labels)
    probs = np.eye(n_classes, dtype=np.float32)[pred] if probs is None else np.asarray(probs, np.float32)
    if sentence_id is None:
        task, rows = "sequence_classification", {"example_id": np.arange(len(pred))}
    else:
        starts = np.flatnonzero(np.r_[True, np.diff(sentence_id) != 0])
        word_index = np.arange(len(pred)) - np.repeat(starts, np.diff(np.r_[starts, len(pred)]))
        task, rows = "token_classification", {"sentence_id": sentence_id, "word_index": word_index}
    run_dir = Path(run_dir)
    (run_dir / "predictions").mkdir(parents=True, exist_ok=True)
    (run_dir / "representations").mkdir(parents=True, exist_ok=True)
    np.savez(run_dir / "predictions" / "test.npz", **rows, label=label, pred=pred, probs=probs)
    np.save(run_dir / "representations" / "test.npy", np.asarray(representations))
    if texts is not None:
        (run_dir / "predictions" / "test_texts.json").write_text(json.dumps(texts))
    for k, values in enumerate(layers or []):
        np.save(run_dir / "representations" / f"test_layer{k}.npy", np.asarray(values))
    for epoch, (epoch_pred, epoch_representations) in enumerate(epochs or []):   # (pred, reps) per epoch
        np.savez(run_dir / "predictions" / f"test_epoch{epoch}.npz", **rows, label=label, pred=epoch_pred,
                 probs=np.eye(n_classes, dtype=np.float32)[epoch_pred])
        np.save(run_dir / "representations" / f"test_epoch{epoch}.npy", np.asarray(epoch_representations))
    write_record(run_dir, RunRecord(
        status=status, task=task, model=model, seed=seed,
        data={"name": "fake", "splits": {"test": {"fingerprint": fingerprint, "size": len(pred)}}},
        labels=list(labels), config={"model": {"name": model}, "seed": seed, **(config or {})},
        training={"epochs": 1, "steps": steps, "untrained": steps == 0},
        test={**({"layers": list(range(len(layers)))} if layers else {}),
              **({"epochs": list(range(len(epochs)))} if epochs else {})} or None,
    ))
    return run_dir


def noisy_copies(label: np.ndarray, error_rate: float, runs: int, rng: np.random.Generator) -> list:
    """Binary predictions with independent errors at ``error_rate``."""
    return [np.where(rng.random(len(label)) < error_rate, 1 - label, label) for _ in range(runs)]
