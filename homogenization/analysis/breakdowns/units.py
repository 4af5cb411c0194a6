"""Unit by unit: which test units the runs fail, with their text, and outcomes per entity type.

``unit_table`` is ``units.csv``: one row per test unit (an example; for token tasks a gold entity
with its sentence, span and type, or a word), its gold label, and for each group how many of its
runs got the unit wrong and what they predicted; ``wrong_all`` is K, the number of all runs that
got it wrong. ``per_type_outcomes`` (entity units) gives the outcome metrics of each entity type:
its error rate, error consistency within and across groups, and systemic failure (the share of
its entities every run fails, observed and under independent errors).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from homogenization.analysis.breakdowns.systemic import systemic_failure
from homogenization.analysis.metrics.agreement import error_pair_stats
from homogenization.analysis.runs.outcomes import Outcomes


def _item_text(text) -> str:
    return " ".join(text) if isinstance(text, list) else str(text)


def unit_table(outcomes: Outcomes, run_groups: list[str], groups: list[str],
               texts: list | None) -> pd.DataFrame:
    """``units.csv``; ``texts``: each item's text (None: the run records kept none)."""
    first, last = outcomes.unit_rows[:, 0], outcomes.unit_rows[:, 1]
    columns: dict[str, object] = {"unit": np.arange(len(first)), "item": outcomes.unit_items}
    if texts is not None:
        columns["text"] = [_item_text(texts[item]) for item in outcomes.unit_items]
    if outcomes.unit != "example":
        starts = np.unique(outcomes.row_items, return_index=True)[1]      # first row of each item
        columns["span"] = [f"{a - starts[item]}-{b - starts[item]}"
                           for a, b, item in zip(first, last, outcomes.unit_items)]
        if texts is not None:
            columns[outcomes.unit] = [" ".join(texts[item][a - starts[item]:b - starts[item] + 1])
                                      for a, b, item in zip(first, last, outcomes.unit_items)]
    columns["gold"] = outcomes.unit_gold
    labels = np.array(outcomes.labels, dtype=object)
    predicted = [[" ".join(labels[outcomes.preds[run, a:b + 1]]) for a, b in zip(first, last)]
                 for run in range(len(run_groups))]
    for group in groups:
        members = [run for run, name in enumerate(run_groups) if name == group]
        columns[f"wrong_{group}"] = outcomes.errors[members].sum(axis=0)
        columns[f"predicted_{group}"] = ["; ".join(predicted[run][unit] for run in members)
                                         for unit in range(len(first))]
    columns["wrong_all"] = outcomes.errors.sum(axis=0)
    columns["runs"] = len(run_groups)
    return pd.DataFrame(columns)


def per_type_outcomes(outcomes: Outcomes, run_groups: list[str]) -> pd.DataFrame:
    """One row per entity type (entity units only; empty otherwise)."""
    if outcomes.unit != "entity":
        return pd.DataFrame()
    group_of = np.array(run_groups)
    same = group_of[:, None] == group_of[None, :]
    off_diagonal = ~np.eye(len(run_groups), dtype=bool)
    kinds = np.array(outcomes.unit_gold)

    def mean(values: np.ndarray) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # no defined pair: NaN
            return float(np.nanmean(values)) if values.size else float("nan")

    rows = []
    for kind in sorted(set(outcomes.unit_gold)):
        errors = outcomes.errors[:, kinds == kind]
        as_float = errors.astype(np.float64)
        stats = error_pair_stats(as_float.mean(axis=1), as_float @ as_float.T / errors.shape[1])
        consistency = stats["error_consistency"]
        systemic = systemic_failure(errors)
        rows.append({
            "type": kind, "entities": errors.shape[1], "error_rate": float(as_float.mean()),
            "error_consistency_within": mean(consistency[same & off_diagonal]),
            "error_consistency_across": mean(consistency[~same]),
            "all_wrong": systemic["all_wrong"], "all_wrong_independent": systemic["all_wrong_independent"],
        })
    return pd.DataFrame(rows)


def systemic_failures(units: pd.DataFrame, limit: int | None = 15) -> pd.DataFrame:
    """The units most runs fail (at least half of them), most-failed first (the first ``limit``;
    None: all)."""
    failed = units[units["wrong_all"] * 2 >= units["runs"]]
    ordered = failed.sort_values(["wrong_all", "unit"], ascending=[False, True])
    return ordered if limit is None else ordered.head(limit)
