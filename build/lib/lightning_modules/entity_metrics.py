"""Entity-level scores (seqeval, conlleval-compatible default mode) and word-level tag scores."""

from __future__ import annotations

import warnings

import numpy as np

AVERAGES = ("micro avg", "macro avg", "weighted avg")


def entity_scores(gold: list[list[str]], pred: list[list[str]]) -> dict[str, float]:
    """Micro precision/recall/F1 over entities (exact span and type), and per entity type."""
    from seqeval.metrics import classification_report

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = classification_report(gold, pred, output_dict=True, zero_division=0)
    micro = report.get("micro avg", {"precision": 0.0, "recall": 0.0, "f1-score": 0.0})
    scores = {"precision": micro["precision"], "recall": micro["recall"], "f1": micro["f1-score"]}
    for entity_type, row in report.items():
        if entity_type not in AVERAGES:
            scores[f"precision_{entity_type}"] = row["precision"]
            scores[f"recall_{entity_type}"] = row["recall"]
            scores[f"f1_{entity_type}"] = row["f1-score"]
    return {name: float(value) for name, value in scores.items()}


def tag_scores(gold: np.ndarray, pred: np.ndarray, names: list[str]) -> dict[str, dict[str, float]]:
    """Word-level precision/recall/F1 and support of each tag (label indices in, names out)."""
    table = {}
    for index, name in enumerate(names):
        true_positive = int(np.sum((pred == index) & (gold == index)))
        predicted, support = int(np.sum(pred == index)), int(np.sum(gold == index))
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        table[name] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    return table


def report_text(gold: list[list[str]], pred: list[list[str]],
                tags: dict[str, dict[str, float]]) -> str:
    """The per-entity table (seqeval) and the per-tag table, as text for test_report.txt."""
    from seqeval.metrics import classification_report

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        entities = classification_report(gold, pred, digits=4, zero_division=0)
    lines = ["Entities (exact span and type; seqeval, conlleval-compatible mode)", entities,
             "Tags (word level)",
             f"{'tag':>12} {'precision':>10} {'recall':>10} {'f1-score':>10} {'support':>10}"]
    for name, row in tags.items():
        lines.append(f"{name:>12} {row['precision']:>10.4f} {row['recall']:>10.4f} "
                     f"{row['f1']:>10.4f} {row['support']:>10d}")
    return "\n".join(lines) + "\n"


def split_sentences(sentence_id: np.ndarray, values: np.ndarray) -> list[np.ndarray]:
    """Group word rows (sorted by sentence, then word) into one array per sentence."""
    boundaries = np.flatnonzero(np.diff(sentence_id)) + 1
    return np.split(values, boundaries)
