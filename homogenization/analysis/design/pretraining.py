"""Does a shared pretrained backbone make its fine-tuned models alike?

The arms are read from the run records (``backbone``: the backbone's name or path, ``init``,
``finetune``), never from group names: a group is a *pretrained* arm when all its runs fine-tuned
every weight of one backbone loaded with its weights (``init=pretrained``, ``finetune=full``), and
its *random-init* control when all its runs trained the same architecture and tokenizer from fresh
weights (``init=random``). Pairs within the pretrained arm share a backbone; pairs within the
control share only the architecture.

For each headline metric the table gives both arms' within-arm mean over pairs and the difference
(pretrained - random init), with 95% multi-bootstrap intervals from the headline's draws (runs
resampled within their groups, test items in blocks, jointly). A pretrained model is also a more
accurate one: metrics marked ``adjusts_for_accuracy`` in the registry (error consistency, CAPA,
the homogenization ratio) compare the pair's agreement with the agreement two runs of *these*
accuracies reach by chance, so a difference in them is not produced by accuracy alone; the table
says which metrics are adjusted, and gives both arms' accuracy beside them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from homogenization.analysis.metrics.bootstrap import interval, pair_mean
from homogenization.analysis.metrics.registry import METRICS
from homogenization.analysis.runs.discovery import Run

COLUMNS = ["metric", "pretrained", "random_init", "backbone", "within_pretrained", "pretrained_ci_low",
           "pretrained_ci_high", "within_random_init", "random_init_ci_low", "random_init_ci_high",
           "difference", "ci_low", "ci_high", "pairs_pretrained", "pairs_random_init",
           "accuracy_adjusted", "task_metric_pretrained", "task_metric_random_init"]


def backbone_arm(run: Run) -> tuple[str, str, str] | None:
    """(backbone, init, finetune) from the run's record, or None for a run without a backbone."""
    backbone = run.record.backbone or {}
    if not backbone:
        return None
    return (str(backbone.get("name") or backbone.get("pretrained")), str(backbone.get("init", "pretrained")),
            str(backbone.get("finetune", "full")))


def arm_pairs(run_arms: list[tuple[str, str, str] | None]) -> list[tuple[tuple, tuple]]:
    """(pretrained arm, random-init arm) for every backbone that has both among the runs."""
    found = list(dict.fromkeys(arm for arm in run_arms if arm is not None))
    return [(arm, other) for arm in found for other in found
            if arm[1:] == ("pretrained", "full") and other == (arm[0], "random", "full")]


def pretraining_comparison(runs: list[Run], groups: list[str], group_index: np.ndarray, point: dict,
                           replicated: dict, pair_draws: np.ndarray, run_metric: np.ndarray) -> pd.DataFrame:
    """One row per headline metric and (pretrained, random-init) pair of arms; empty when the study
    has no such pair. An arm is every run of it, whatever groups the grouping puts them in (a
    design that nests seeds in backbones gives each random-init control a group of its own); it
    is named by its runs' groups."""
    rows = []
    off_diagonal = ~np.eye(len(runs), dtype=bool)
    run_arms = [backbone_arm(run) for run in runs]
    for pretrained_arm, random_arm in arm_pairs(run_arms):
        members = {side: np.array([a == arm for a in run_arms])
                   for side, arm in (("pretrained", pretrained_arm), ("random_init", random_arm))}
        names = {side: ", ".join(dict.fromkeys(groups[g] for g in group_index[member]))
                 for side, member in members.items()}
        masks = {side: member[:, None] & member[None, :] & off_diagonal for side, member in members.items()}
        for name in replicated:   # the headline metrics
            within = {side: float(pair_mean(point[name], mask.astype(float))) for side, mask in masks.items()}
            drawn = {side: pair_mean(replicated[name], pair_draws * mask) for side, mask in masks.items()}
            rows.append({
                "metric": name, "pretrained": names["pretrained"], "random_init": names["random_init"],
                "backbone": pretrained_arm[0],
                "within_pretrained": within["pretrained"],
                **dict(zip(("pretrained_ci_low", "pretrained_ci_high"), interval(drawn["pretrained"]))),
                "within_random_init": within["random_init"],
                **dict(zip(("random_init_ci_low", "random_init_ci_high"), interval(drawn["random_init"]))),
                "difference": within["pretrained"] - within["random_init"],
                **dict(zip(("ci_low", "ci_high"), interval(drawn["pretrained"] - drawn["random_init"]))),
                "pairs_pretrained": int(masks["pretrained"].sum() // 2),
                "pairs_random_init": int(masks["random_init"].sum() // 2),
                "accuracy_adjusted": METRICS[name].adjusts_for_accuracy,
                "task_metric_pretrained": float(run_metric[members["pretrained"]].mean()),
                "task_metric_random_init": float(run_metric[members["random_init"]].mean()),
            })
    return pd.DataFrame(rows, columns=COLUMNS)
