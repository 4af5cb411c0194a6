"""What each run got right and wrong on the shared test set, as aligned arrays over runs.

The *item* is what the bootstrap resamples: an example for sequence tasks, a sentence for token
tasks (its words and entities are not independent). The *unit* is what an error is counted on: an
example; for token tasks a gold entity (right only if predicted with its exact span and type, the
conlleval rule) or, with ``unit=word``, a word.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from seqeval.metrics.sequence_labeling import get_entities

from homogenization.analysis.runs.discovery import Run
from homogenization.core.errors import UserError
from homogenization.core.run_record import (
    PROBABILITY_TOLERANCE,
    read_predictions,
    read_representations,
    representation_file,
)

ROW_KEYS = {"sequence_classification": ("example_id",),
            "token_classification": ("sentence_id", "word_index")}


@dataclass
class Outcomes:
    task: str
    unit: str
    labels: list[str]
    preds: np.ndarray          # int [R, rows]: predicted label of every prediction row
    errors: np.ndarray         # bool [R, U]: run r gets unit u wrong
    unit_items: np.ndarray     # int [U]: the item each unit belongs to
    row_items: np.ndarray      # int [rows]: the item each prediction / representation row belongs to
    n_items: int
    task_counts: np.ndarray    # float [R, items, c]: (correct, total) or (tp, fp, fn) per item
    gold: np.ndarray           # int [rows]: the gold label of every prediction row
    unit_rows: np.ndarray      # int [U, 2]: the first and last prediction row of each unit
    unit_gold: list[str]       # each unit's gold label (an entity's type for entity units)
    probs: list[np.ndarray] = field(default_factory=list)   # per run: float [rows, labels]

    @property
    def metric_name(self) -> str:
        return "accuracy" if self.task == "sequence_classification" else "entity_f1"


def task_metric(counts: np.ndarray) -> np.ndarray:
    """Accuracy from (correct, total) or micro entity F1 from (tp, fp, fn), over the last axis."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if counts.shape[-1] == 2:
            return counts[..., 0] / counts[..., 1]
        tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
        return 2 * tp / (2 * tp + fp + fn)


def _aligned_predictions(runs: list[Run], split: str = "test") -> list[dict[str, np.ndarray]]:
    task = runs[0].record.task
    predictions = []
    for run in runs:
        if run.record.task != task:
            raise UserError(f"{run.path}: task {run.record.task} differs from {runs[0].path} ({task}); "
                            "analyze runs of one task together")
        try:
            arrays = read_predictions(run.path, split)
        except (OSError, ValueError, zipfile.BadZipFile, KeyError) as error:
            raise UserError(f"{run.path / 'predictions' / f'{split}.npz'}: cannot be read ({error}); "
                            "re-run this job or leave it out of runs=") from None
        check_predictions(run, arrays, split)
        reference = predictions[0] if predictions else arrays
        for key in ROW_KEYS[task]:
            if not np.array_equal(arrays[key], reference[key]):
                raise UserError(f"{run.path}: test rows ({key}) are not in the order of {runs[0].path}; "
                                "the run records were not written by the same data pipeline")
        predictions.append(arrays)
    return predictions


def check_predictions(run: Run, arrays: dict[str, np.ndarray], split: str = "test") -> None:
    """Refuse a predictions file that is not a result, whoever wrote it: missing columns, columns
    of different lengths, labels outside the run's label set, probabilities that are not finite,
    not one per label or do not sum to 1, and (sequence tasks, where the prediction is the most
    probable label) a ``pred`` that is not argmax(``probs``). ``probs`` is the source of truth;
    token tasks may decode a valid tag sequence instead (``model.decoding``)."""
    path = run.path / "predictions" / f"{split}.npz"
    task, n_labels = run.record.task, len(run.record.labels)
    missing = [key for key in (*ROW_KEYS[task], "label", "pred", "probs") if key not in arrays]
    if missing:
        raise UserError(f"{path}: no {', '.join(missing)} column; a predictions file holds "
                        f"{', '.join((*ROW_KEYS[task], 'label', 'pred', 'probs'))} (docs/architecture.md, "
                        "'The run record'); re-write it with homog-import or leave the run out")
    lengths = {key: len(arrays[key]) for key in (*ROW_KEYS[task], "label", "pred", "probs")}
    if len(set(lengths.values())) != 1:
        raise UserError(f"{path}: columns of different lengths {lengths}; re-write it or leave the run out")
    probs = np.asarray(arrays["probs"], dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != n_labels:
        raise UserError(f"{path}: probs has shape {probs.shape}, expected one column per label of the "
                        f"run's {n_labels} labels {list(run.record.labels)}")
    abstains = (run.record.test or {}).get("abstain") is not None   # pred -1: an abstention (homog-import)
    for key in ("label", "pred"):
        values = np.asarray(arrays[key])
        lowest = -1 if key == "pred" and abstains else 0
        if len(values) and (values.min() < lowest or values.max() >= n_labels):
            raise UserError(f"{path}: {key} holds values outside 0..{n_labels - 1} (the run's labels "
                            f"{list(run.record.labels)})")
    bad = ~np.isfinite(probs).all(axis=1) | (np.abs(probs.sum(axis=1) - 1) > PROBABILITY_TOLERANCE) \
        | (probs < 0).any(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise UserError(f"{path}: {int(bad.sum())} of {len(probs)} rows of probs are not a distribution "
                        f"(row {row} sums to {probs[row].sum():.4g}); write probabilities that sum to 1")
    if task == "sequence_classification" and len(probs):
        pred = np.asarray(arrays["pred"])
        off = probs[np.arange(len(pred)), pred] < probs.max(axis=1) - 1e-6
        off[pred < 0] = np.abs(probs[pred < 0] - 1 / n_labels).max(axis=1) > 1e-6   # an abstention: uniform
        if off.any():
            row = int(np.flatnonzero(off)[0])
            raise UserError(f"{path}: pred is not the most probable label in {int(off.sum())} of {len(pred)} "
                            f"rows (row {row}: pred {int(pred[row])}, argmax {int(probs[row].argmax())}); "
                            "probs is the source of truth: write pred = argmax(probs) (abstention: pred -1, "
                            "uniform probs)")


def _sentences(values: np.ndarray, starts: np.ndarray, names: list[str]) -> list[list[str]]:
    return [[names[i] for i in sentence] for sentence in np.split(values, starts[1:])]


def _entity_outcomes(gold: list[list[str]], predicted: list[list[str]]):
    """Per gold entity: right or not; per sentence: (tp, fp, fn)."""
    correct, counts = [], []
    for gold_tags, predicted_tags in zip(gold, predicted):
        gold_entities = get_entities(gold_tags)
        predicted_entities = set(get_entities(predicted_tags))
        hits = [entity in predicted_entities for entity in gold_entities]
        correct.extend(hits)
        counts.append((sum(hits), len(predicted_entities) - sum(hits), len(gold_entities) - sum(hits)))
    return np.array(correct, dtype=bool), np.array(counts, dtype=np.float64)


def load_outcomes(runs: list[Run], unit: str = "entity", split: str = "test") -> Outcomes:
    """Read every run's test predictions (``split``: ``test``, or ``test_epoch{e}`` for an epoch's)
    and derive units, errors and per-item task counts; ``probs`` keeps each run's probabilities."""
    predictions = _aligned_predictions(runs, split)
    outcomes = _outcomes(runs, predictions, unit)
    outcomes.probs = [arrays["probs"] for arrays in predictions]
    return outcomes


def _outcomes(runs: list[Run], predictions: list[dict[str, np.ndarray]], unit: str) -> Outcomes:
    task, labels = runs[0].record.task, list(runs[0].record.labels)
    gold = predictions[0]["label"]
    preds = np.stack([p["pred"] for p in predictions])
    if task == "sequence_classification":
        items = np.arange(len(gold))
        correct = preds == gold
        counts = np.stack([correct, np.ones_like(correct)], axis=-1).astype(np.float64)
        return Outcomes(task, "example", labels, preds, ~correct, items, items, len(items), counts, gold,
                        np.stack([items, items], axis=1), [labels[g] for g in gold])

    if unit not in ("entity", "word"):
        raise UserError(f"unit={unit}: token tasks count errors per 'entity' (default) or per 'word'")
    _, row_items = np.unique(predictions[0]["sentence_id"], return_inverse=True)
    starts = np.flatnonzero(np.r_[True, np.diff(row_items) != 0])
    gold_sentences = _sentences(gold, starts, labels)
    entity_correct, entity_counts = zip(*(_entity_outcomes(gold_sentences, _sentences(p, starts, labels))
                                          for p in preds))
    counts = np.stack(entity_counts)
    if unit == "word":
        rows = np.arange(len(gold))
        return Outcomes(task, "word", labels, preds, preds != gold, row_items, row_items, len(starts),
                        counts, gold, np.stack([rows, rows], axis=1), [labels[g] for g in gold])
    entities = [get_entities(tags) for tags in gold_sentences]
    entity_items = np.repeat(np.arange(len(starts)), [len(found) for found in entities])
    spans = np.array([(starts[item] + first, starts[item] + last) for item, found in enumerate(entities)
                      for _, first, last in found], dtype=np.int64).reshape(-1, 2)
    return Outcomes(task, "entity", labels, preds, ~np.stack(entity_correct), entity_items, row_items,
                    len(starts), counts, gold, spans, [kind for found in entities for kind, _, _ in found])


def has_representations(run: Run) -> bool:
    """False for runs whose record says they have none (imported predictions)."""
    return (run.record.test or {}).get("representations", True) is not False


def load_representations(runs: list[Run], rows: int, split: str = "test") -> Iterator[np.ndarray | None]:
    """Each run's test representations as float32, checked to have one row per prediction row;
    None for a run recorded without representations. One run at a time (a generator), so that a
    study's representations are never all in memory."""
    for run in runs:
        if not has_representations(run):
            yield None
            continue
        path = representation_file(run.path, split)
        try:
            array = read_representations(run.path, split).astype(np.float32)
        except (OSError, ValueError) as error:
            raise UserError(f"{path}: cannot be read ({error}); re-run this job or leave it out") from None
        if array.ndim != 2 or len(array) != rows:
            raise UserError(f"{path}: shape {array.shape}, expected one row per test prediction ({rows})")
        yield array
