"""The report's section on pretrained backbones: the pretrained arm against its random-init control
(design/pretraining.py), and what fine-tuned runs keep of their backbone (breakdowns/
backbone_drift.py); their files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from homogenization.analysis.metrics.registry import METRICS
from homogenization.analysis.report.tables import fmt, markdown_table, with_interval
from homogenization.analysis.study import Analysis


def pretraining_markdown(analysis: Analysis) -> list[str]:
    table = analysis.pretraining
    if table.empty:
        return []
    first = table.iloc[0]
    others = table[(table.pretrained != first.pretrained) | (table.random_init != first.random_init)]
    table = table[(table.pretrained == first.pretrained) & (table.random_init == first.random_init)]
    rows = pd.DataFrame({
        "metric": [METRICS[name].label + ("" if adjusted else " †")
                   for name, adjusted in zip(table.metric, table.accuracy_adjusted)],
        f"within {first.pretrained} (shared backbone)": [
            with_interval(*values) for values in
            zip(table.within_pretrained, table.pretrained_ci_low, table.pretrained_ci_high)],
        f"within {first.random_init} (random init)": [
            with_interval(*values) for values in
            zip(table.within_random_init, table.random_init_ci_low, table.random_init_ci_high)],
        "difference": [with_interval(*values, signed=True)
                       for values in zip(table.difference, table.ci_low, table.ci_high)],
    })
    metric = analysis.outcomes.metric_name
    return [
        "## Does a shared pretrained backbone make its fine-tuned models alike?",
        *_near_chance_arms(analysis, first),
        f"Pairs of runs fine-tuned from one backbone (**{first.pretrained}**, {first.backbone}, "
        f"{first.pairs_pretrained} pairs) against pairs of the same architecture and tokenizer trained "
        f"from random weights (**{first.random_init}**, {first.pairs_random_init} pairs); the arms are "
        "read from the run records (`backbone.init`, `backbone.finetune`). Mean "
        f"{metric}: {fmt(first.task_metric_pretrained)} and {fmt(first.task_metric_random_init)}. "
        "Intervals: the headline's multi-bootstrap (runs within their arm and test items, jointly).",
        markdown_table(rows),
        "A pretrained model is also a more accurate one. Error consistency, CAPA and the homogenization "
        "ratio compare a pair's agreement with what two runs of *these* accuracies reach by chance, so "
        "their difference is not made by accuracy alone; metrics marked † are not adjusted for "
        "accuracy (representation similarity), and their difference mixes both. `pretraining.csv` has "
        "every number" + (f", and those of the study's {len(others.drop_duplicates(['pretrained']))} other "
                          "pretrained arm(s)." if len(others) else "."),
    ]


def drift_markdown(analysis: Analysis) -> list[str]:
    drift = analysis.backbone_drift
    if drift is None:
        if not analysis.pretraining.empty:
            return ["What fine-tuning kept of the backbone is measured against a frozen copy of it: "
                    "add a `model=bert_probe` arm (and `record.layers=all`) to the study."]
        return []
    by_layer = (drift.layers.groupby(["group", "layer"]).linear_cka_to_backbone
                .agg(["mean", "min", "max", "count"]).reset_index())
    table = pd.DataFrame({"group": by_layer.group, "layer": by_layer.layer,
                          "CKA to the backbone, mean (min-max)": [
                              f"{fmt(m)} ({fmt(lo)}-{fmt(hi)})"
                              for m, lo, hi in zip(by_layer["mean"], by_layer["min"], by_layer["max"])],
                          "runs": by_layer["count"]})
    lines = ["## What the fine-tuned models keep of the backbone",
             "Linear CKA between each fine-tuned run's layer k and the frozen backbone's layer k (the probe "
             "runs', whose backbone is frozen) on the test items: 1 = kept as it was, up to rotation "
             "and scale. Layer 0 is the embedding output. Per run in `backbone_drift.csv`.",
             markdown_table(table)]
    for row in drift.closeness.itertuples(index=False):
        lines.append(
            f"Do the runs of **{row.group}** that stayed closer to the backbone (last layer) agree more? "
            f"Spearman's ρ of a pair's mean closeness against its {METRICS[row.metric].label}: "
            f"{fmt(row.spearman_rho)} over {row.pairs} pairs of {row.runs} runs, exact permutation "
            f"p = {fmt(row.p_value)} (one-sided; closenesses permuted among the runs). With this few "
            "runs only a strong relation can show.")
    return lines


def write_backbone_files(analysis: Analysis, folder: Path) -> list[str]:
    """pretraining.csv, backbone_drift.csv, backbone_closeness.csv where there is something to write;
    their names."""
    written = []
    if not analysis.pretraining.empty:
        analysis.pretraining.to_csv(folder / "pretraining.csv", index=False)
        written.append("pretraining.csv")
    if analysis.backbone_drift is not None:
        analysis.backbone_drift.layers.to_csv(folder / "backbone_drift.csv", index=False)
        analysis.backbone_drift.closeness.to_csv(folder / "backbone_closeness.csv", index=False)
        written += ["backbone_drift.csv", "backbone_closeness.csv"]
    return written


def _near_chance_arms(analysis: Analysis, first: pd.Series) -> list[str]:
    """A warning when an arm's runs are near chance: two runs that predict one label everywhere
    agree perfectly, so the comparison then reads the arm's failure to learn, not homogenization."""
    lines = []
    runs = analysis.run_table
    for side in ("pretrained", "random_init"):
        mine = runs[runs.group.isin(str(first[side]).split(", "))]
        flagged = int(mine["flags"].fillna("").str.contains("near chance").sum())
        if flagged:
            lines.append(f"**The {side.replace('_', '-')} arm is near chance** ({flagged} of {len(mine)} "
                         "runs; *Flagged runs*): its agreement is that of runs that did not learn the task "
                         "(a run that predicts one label everywhere agrees perfectly with another), so the "
                         "difference below does not read homogenization. Train that arm longer or on more "
                         "data.")
    return lines
