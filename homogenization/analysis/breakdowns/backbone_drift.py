"""What fine-tuned models keep of their backbone (runs trained with ``record.layers``).

The frozen backbone's representations are those of the study's *probe* runs: runs whose record
says the backbone was loaded with its pretrained weights and frozen (``backbone.finetune=probe``,
``model=bert_probe``); their layers are the backbone's own (kept in eval mode, no dropout). A
fine-tuned run (``init=pretrained``, another method) is compared with the probe runs of the same
backbone (the same weights hash at load, ``backbone.sha256``), layer by layer: linear CKA of its
layer k with the backbone's layer k over the test items, 1 = kept as it was, up to rotation and
scale. Without a probe arm there is no reference, and the report says so.

Do the runs that stayed closer to the backbone agree more? Each fine-tuned run's closeness is its
CKA to the backbone at the last layer; per pair of runs of one group, the mean of their two
closenesses is set against the pair's agreement (the first headline metric). Spearman's rho over
those pairs, with an exact permutation p-value (one-sided: closer, more alike) that permutes the
closenesses among the group's runs, since pairs that share a run are not independent.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from homogenization.analysis.random_streams import stream
from homogenization.analysis.runs.discovery import Run

PERMUTATIONS_ENUMERATED_UP_TO = 40_320   # 8 runs; larger groups draw this many permutations


@dataclass
class BackboneDrift:
    layers: pd.DataFrame       # backbone_drift.csv: run, group, layer, linear_cka_to_backbone, references
    closeness: pd.DataFrame    # group, metric, runs, pairs, spearman_rho, p_value


def _is_probe(run: Run) -> bool:
    backbone = run.record.backbone or {}
    return backbone.get("finetune") == "probe" and backbone.get("init", "pretrained") == "pretrained"


def _is_fine_tuned(run: Run) -> bool:
    backbone = run.record.backbone or {}
    return bool(backbone) and backbone.get("finetune") != "probe" and backbone.get("init") == "pretrained"


def same_layer_cka(layer_pairs: pd.DataFrame) -> dict[tuple[str, str, int], float]:
    """(run, other run, layer) -> CKA of that layer of both, in both orders."""
    same = layer_pairs[layer_pairs.layer_a == layer_pairs.layer_b]
    found = {}
    for row in same.itertuples(index=False):
        found[(row.run_a, row.run_b, int(row.layer_a))] = float(row.linear_cka)
        found[(row.run_b, row.run_a, int(row.layer_a))] = float(row.linear_cka)
    return found


def drift_table(runs: list[Run], layer_pairs: pd.DataFrame) -> pd.DataFrame:
    cka = same_layer_cka(layer_pairs)
    probes: dict[str, list[str]] = {}
    for run in runs:
        if _is_probe(run):
            probes.setdefault(str(run.record.backbone.get("sha256")), []).append(run.name)
    rows = []
    for run in runs:
        if not _is_fine_tuned(run):
            continue
        references = probes.get(str(run.record.backbone.get("sha256")), [])
        for layer in sorted({k for (a, b, k) in cka if a == run.name and b in references}):
            values = [cka[key] for key in ((run.name, probe, layer) for probe in references) if key in cka]
            rows.append({"run": run.name, "group": run.group, "layer": layer,
                         "linear_cka_to_backbone": float(np.mean(values)), "references": len(values)})
    return pd.DataFrame(rows, columns=["run", "group", "layer", "linear_cka_to_backbone", "references"])


def _pair_rho(closeness: np.ndarray, pairs: list[tuple[int, int]], agreement: np.ndarray) -> float:
    """Spearman's rho of each pair's mean closeness against its agreement."""
    mean_closeness = pd.Series([(closeness[a] + closeness[b]) / 2 for a, b in pairs])
    return float(mean_closeness.corr(pd.Series(agreement), method="spearman"))


def closeness_and_agreement(table: pd.DataFrame, runs: list[Run], agreement: np.ndarray,
                            metric: str, seed: int = 0) -> pd.DataFrame:
    """Per group of fine-tuned runs (3 or more): rho of pair closeness against pair agreement."""
    rows = []
    index_of = {run.name: index for index, run in enumerate(runs)}
    last = table[table.layer == table.groupby("run").layer.transform("max")]
    for group, part in last.groupby("group", sort=False):
        names = list(part.run)
        if len(names) < 3:
            continue
        closeness = part.linear_cka_to_backbone.to_numpy()
        pairs = list(itertools.combinations(range(len(names)), 2))
        agree = np.array([agreement[index_of[names[a]], index_of[names[b]]] for a, b in pairs])
        observed = _pair_rho(closeness, pairs, agree)
        if math.factorial(len(names)) <= PERMUTATIONS_ENUMERATED_UP_TO:
            orders = itertools.permutations(range(len(names)))
        else:
            rng = stream(seed, "permutations")
            orders = (rng.permutation(len(names)) for _ in range(PERMUTATIONS_ENUMERATED_UP_TO))
        null = np.array([_pair_rho(closeness[list(order)], pairs, agree) for order in orders])
        rows.append({"group": group, "metric": metric, "runs": len(names), "pairs": len(pairs),
                     "spearman_rho": observed,
                     "p_value": float(np.mean(null[np.isfinite(null)] >= observed - 1e-12))
                     if np.isfinite(observed) else float("nan")})
    return pd.DataFrame(rows, columns=["group", "metric", "runs", "pairs", "spearman_rho", "p_value"])


def backbone_drift(runs: list[Run], layer_pairs: pd.DataFrame | None, agreement: np.ndarray,
                   metric: str, seed: int = 0) -> BackboneDrift | None:
    """Both tables, or None when no run was fine-tuned from a backbone that a probe run froze."""
    if layer_pairs is None or not any(_is_probe(run) for run in runs):
        return None
    table = drift_table(runs, layer_pairs)
    if table.empty:
        return None
    return BackboneDrift(table, closeness_and_agreement(table, runs, agreement, metric, seed))
