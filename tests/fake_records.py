"""Run records written directly with homogenization.run_record, for testing the analysis.

The analysis reads run directories only, so its tests build records with chosen predictions and
representations (real training runs feed it in test_multirun.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from homogenization.run_record import write_predictions, write_representations, write_run_json


def write_run(run_dir: Path, pred: np.ndarray, label: np.ndarray, representations: np.ndarray,
              model: str = "m", seed: int = 1, fingerprint: str = "test-set", labels=("neg", "pos"),
              sentence_id: np.ndarray | None = None) -> Path:
    """A complete record; token-task rows when ``sentence_id`` is given."""
    n_classes = len(labels)
    probs = np.eye(n_classes, dtype=np.float32)[pred]
    if sentence_id is None:
        task, rows = "sequence_classification", {"example_id": np.arange(len(pred))}
    else:
        starts = np.flatnonzero(np.r_[True, np.diff(sentence_id) != 0])
        word_index = np.arange(len(pred)) - np.repeat(starts, np.diff(np.r_[starts, len(pred)]))
        task, rows = "token_classification", {"sentence_id": sentence_id, "word_index": word_index}
    write_predictions(run_dir, "test", {**rows, "label": label, "pred": pred, "probs": probs})
    write_representations(run_dir, "test", representations)
    write_run_json(run_dir, {
        "status": "complete", "task": task, "model": model, "seed": seed,
        "data": {"name": "fake", "splits": {"test": {"fingerprint": fingerprint, "size": len(pred)}}},
        "labels": list(labels), "metrics": {}, "config": {"model": {"name": model}, "seed": seed},
    })
    return run_dir


def noisy_copies(label: np.ndarray, error_rate: float, runs: int, rng: np.random.Generator) -> list:
    """Binary predictions with independent errors at ``error_rate``."""
    return [np.where(rng.random(len(label)) < error_rate, 1 - label, label) for _ in range(runs)]
