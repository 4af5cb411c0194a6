"""Synthetic run directories with chosen predictions and representations, for the analysis's
tests and benchmarks (the analysis reads run directories only; real training runs feed it in
tests/test_multirun.py). The files are written as they
are given, without the checks of homogenization.core.run_record.write_test_record, so the analysis's own
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
              epochs: list[tuple[np.ndarray, np.ndarray]] | None = None,
              backbone: dict | None = None) -> Path:
    """A record with these outputs (``probs``: one-hot on ``pred`` unless given); token-task rows
    when ``sentence_id`` is given; ``backbone``: the record's backbone identity (init, finetune,
    sha256, name)."""
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
        training={"epochs": 1, "steps": steps, "untrained": steps == 0}, backbone=backbone,
        test={**({"layers": list(range(len(layers)))} if layers else {}),
              **({"epochs": list(range(len(epochs)))} if epochs else {})} or None,
    ))
    return run_dir


def noisy_copies(label: np.ndarray, error_rate: float, runs: int, rng: np.random.Generator) -> list:
    """Binary predictions with independent errors at ``error_rate``."""
    return [np.where(rng.random(len(label)) < error_rate, 1 - label, label) for _ in range(runs)]


def factorial_errors(levels: dict[str, list[int]], variances: dict[str, float], n_units: int,
                     error_rate: float, rng: np.random.Generator, level_spread: float = 0.0,
                     ) -> tuple[list[tuple[dict, np.ndarray]], dict]:
    """A synthetic factorial study with known sources of shared errors: one run per combination of
    ``levels`` (factor -> its level values). Each unit's error propensity in a run is a sum of unit
    effects, one per factor *level* the run has (variance ``variances[factor]``), plus the run's own
    (the remaining variance); the run errs where the propensity exceeds the quantile of
    ``error_rate``. Two runs sharing the factors S then have propensities correlated by
    rho_S = sum of S's variances: the truth that ``bivariate_error_consistency`` turns into
    kappa_err. ``level_spread``: levels differ in how much they share (real seeds do): level l of
    factor f carries variance ``variances[f] * g`` with g ~ Gamma(mean 1, coefficient of variation
    ``level_spread``). Returns [(factor values, errors [n_units] bool)] per run and the realized
    variance of every (factor, level)."""
    from itertools import product
    from statistics import NormalDist

    threshold = NormalDist().inv_cdf(1 - error_rate)
    effects = {f: {value: rng.standard_normal(n_units) for value in values} for f, values in levels.items()}
    shape = 1 / level_spread**2 if level_spread > 0 else None
    realized = {(f, value): variances.get(f, 0.0) * (rng.gamma(shape, 1 / shape) if shape else 1.0)
                for f, values in levels.items() for value in values}
    runs = []
    for combination in product(*levels.values()):
        values = dict(zip(levels, combination))
        shared = sum(realized[(f, value)] for f, value in values.items())
        if shared > 1:
            raise ValueError("the factors' variances sum to more than 1 for a run; lower them")
        propensity = np.sqrt(1.0 - shared) * rng.standard_normal(n_units)
        for factor, value in values.items():
            propensity += np.sqrt(realized[(factor, value)]) * effects[factor][value]
        runs.append((values, propensity > threshold))
    return runs, realized


def write_factorial_study(root: Path, levels: dict[str, list[int]], variances: dict[str, float],
                          n_units: int, error_rate: float, rng: np.random.Generator,
                          hidden: int = 8) -> list[Path]:
    """``factorial_errors`` as run directories: factor keys in each config (``model.name`` sets the
    model), binary labels, representations that carry the same shared structure."""
    label = rng.integers(0, 2, n_units)
    paths = []
    runs, _ = factorial_errors(levels, variances, n_units, error_rate, rng)
    for index, (values, errors) in enumerate(runs):
        config: dict = {}
        for key, value in values.items():
            node = config
            *parents, leaf = key.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        model = str(values.get("model.name", "m"))
        pred = np.where(errors, 1 - label, label)
        representations = rng.standard_normal((n_units, hidden)) + errors[:, None]
        paths.append(write_run(Path(root) / f"run{index:03d}", pred, label, representations, model=model,
                               seed=index, config=config))
    return paths


def trend_pair_values(
    rng: np.random.Generator,
    slope: float,
    levels: np.ndarray,
    runs_per_level: int = 3,
    items: int = 400,
    blocks: int = 40,
    run_sd: float = 0.05,
    item_sd: float = 0.05,
    noise_sd: float = 0.6,
    replicates: int = 400,
) -> tuple[np.ndarray, ...]:
    """A trend study at the level of pair values, for the trend's coverage (tests/test_trends.py,
    benchmarks/trend_coverage.py). Pair values mu(level) + a_i + a_j + b_item + e_pair,item for
    pairs within a level, with mu = slope * log2(level) (truth: ``slope`` per doubling); across
    levels mu = 0. Returns what trend_analysis reads: the level of each run, point [R, R],
    replicates under item-block weights [B, R, R], accuracies [R] and their replicates."""
    level_of = np.repeat(np.arange(len(levels)), runs_per_level)
    runs = len(level_of)
    mu = np.where(level_of[:, None] == level_of[None, :], slope * np.log2(levels)[level_of][:, None], 0.0)
    a = rng.normal(0, run_sd, runs)
    block_of = np.arange(items) % blocks
    upper = np.triu_indices(runs, k=1)
    values = (
        mu[upper][:, None]
        + a[upper[0], None]
        + a[upper[1], None]
        + rng.normal(0, item_sd, items)[None]
        + rng.normal(0, noise_sd, (len(upper[0]), items))
    )
    per_block = np.stack([values[:, block_of == m].mean(1) for m in range(blocks)], axis=1)  # [P, M]
    weights = rng.multinomial(blocks, np.full(blocks, 1 / blocks), size=replicates).astype(float)
    point, replicated = np.full((runs, runs), np.nan), np.full((replicates, runs, runs), np.nan)
    point[upper] = point.T[upper] = per_block.mean(1)
    drawn = (weights @ per_block.T) / weights.sum(1, keepdims=True)  # [B, P]
    replicated[:, upper[0], upper[1]] = replicated[:, upper[1], upper[0]] = drawn
    accuracy = np.full(runs, 0.8)
    return level_of, point, replicated, accuracy, np.tile(accuracy, (replicates, 1))
