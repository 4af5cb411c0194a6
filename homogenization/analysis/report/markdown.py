"""Write an analysis to a report directory: csv tables, homogenization.json, figures, report.md.

The directory is built next to its destination and renamed into place, so a reader never sees a
half-written report (and a failed analysis leaves the previous report untouched).
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from homogenization.analysis.breakdowns.units import systemic_failures
from homogenization.analysis.calibration import calibration_text
from homogenization.analysis.design.nested import KINDS as NESTED_KINDS
from homogenization.analysis.metrics.registry import METRICS, computed
from homogenization.analysis.metrics.registry import headline as headline_metrics
from homogenization.analysis.report import figures
from homogenization.analysis.report.backbone_markdown import (
    drift_markdown,
    pretraining_markdown,
    write_backbone_files,
)
from homogenization.analysis.report.tables import fmt, interval_text, markdown_table, with_interval
from homogenization.analysis.report.trend_markdown import trend_markdown, write_trend_files
from homogenization.analysis.runs.outcomes import has_representations
from homogenization.analysis.study import POOLED, Analysis, chance_level
from homogenization.core.disk_space import room_for
from homogenization.core.errors import UserError
from homogenization.core.run_record import clear_stale_staging, staging_dir

log = logging.getLogger(__name__)


def label(name: str) -> str:
    """The registry's label of a metric."""
    return METRICS[name].label if name in METRICS else name

PLURAL = {"entity": "entities", "example": "examples", "word": "words"}


def readable_groups(groups: pd.DataFrame, metric: str, measures: list[str]) -> pd.DataFrame:
    """The group table as a reader wants it: named columns, observed beside independent."""
    def both(row, observed: str) -> str:
        return f"{fmt(row[observed])} / {fmt(row[observed + '_independent'])}"

    return pd.DataFrame([{
        "group": row["group"], "runs": row["runs"],
        f"{metric}: mean ± sd [95% CI]": f"{fmt(row['metric_mean'])} ± {fmt(row['metric_std'])} "
                                          f"[{fmt(row['metric_ci_low'])}, {fmt(row['metric_ci_high'])}]",
        **{label(name): row[name] for name in (*[n for n in headline_metrics() if n in row], *measures)},
        "all wrong: observed / independent": both(row, "all_wrong"),
        "same outcome for all: observed / independent": both(row, "homogeneous_outcome"),
        "Fleiss' κ": row["fleiss_kappa"], "pairs": row["pairs"],
    } for _, row in groups.iterrows()])


def _the_runs(analysis: Analysis) -> list[str]:
    """What the runs are: data, training-set sizes, epochs, seeds, per group."""
    lines = []
    for group in analysis.groups:
        records = [run.record for run in analysis.runs if run.group == group]
        data = sorted({str((r.data or {}).get("name")) for r in records})
        sizes = sorted({((r.data or {}).get("splits", {}).get("train") or {}).get("size") for r in records},
                       key=str)
        training = [r.training or {} for r in records]
        how = ("imported predictions" if all(t.get("imported") for t in training) else
               "evaluated as released" if all(t.get("evaluated") for t in training) else
               "epochs " + ", ".join(map(str, sorted({t.get("epochs") for t in training}, key=str))))
        seeds = sorted({r.seed for r in records}, key=str)
        size_text = "" if sizes == [None] else f", {', '.join(map(str, sizes))} training examples"
        runs = f"{len(records)} run{'s' if len(records) > 1 else ''}"
        lines.append(f"- **{group}**: {runs}; data {', '.join(data)}{size_text}; {how}; "
                     f"seeds {', '.join(map(str, seeds))}")
    return ["**The runs.**\n" + "\n".join(lines)]


def _without_representations(analysis) -> list[str]:
    """One line each for what the headline lacks: intervals (bootstrap=0), representations."""
    lines = []
    if analysis.settings.bootstrap == 0:
        lines.append("No intervals: analysis.bootstrap=0 (every [n/a, n/a] above); set it to 1000 for them.")
    absent = [run.name for run in analysis.runs if not has_representations(run)]
    if not absent:
        return lines
    return [*lines, f"{len(absent)} of {len(analysis.runs)} runs have no representations (imported "
            "predictions): "
            "the representation measures (CKA, mutual k-NN) need representations and are n/a for their "
            "pairs; the outcome measures (error consistency, CAPA, ...) cover every run."]


def one_side_empty(analysis: Analysis) -> str | None:
    """Why the headline has no within or no across pairs (one line), or None when it has both."""
    entries = list(analysis.headline.values())
    if not entries or all(e["within_pairs_total"] and e["across_pairs_total"] for e in entries):
        return None
    entry = entries[0]
    if len(analysis.groups) == 1:
        return (f"All {len(analysis.runs)} runs are in one group ({analysis.groups[0]}), so no pair is "
                "across groups; group_by= names the key that tells the runs apart (e.g. group_by=[model]).")
    if not entry["raw_within_pairs_total"]:
        return (f"Every group holds one run ({len(analysis.groups)} groups of {len(analysis.runs)} runs), so "
                "no pair is within a group: train or import more than one run per group (seeds), or group "
                "by a coarser key.")
    side = "within" if not entry["within_pairs_total"] else "across"
    return (f"Matching on {', '.join(analysis.matched_on)} leaves no {side} pairs (no {side} pair differs "
            "in the grouping alone); the raw comparison is in `homogenization.json` (raw_*), and the "
            "attribution below separates the factors.")


def headline_section(analysis: Analysis) -> list[str]:
    """The headline table and figure, or, when one side has no pairs, why, and the pooled value of
    every metric over every pair of runs with its interval (never a table of n/a)."""
    reason = one_side_empty(analysis)
    if reason is None:
        return [headline_markdown(analysis.headline),
                "![Headline: within, across and their difference, 95% intervals](figures/headline.png)"]
    lines = ["| metric | every pair of runs [95% CI] | pairs |", "|---|---|---|"]
    for name, entry in analysis.headline.items():
        lines.append(f"| {label(name)} | {fmt(entry['pooled'])} {interval_text(entry['pooled_ci'])} "
                     f"| {entry['pooled_pairs']} |")
    return [f"**No within/across comparison.** {reason} Every pair of runs, pooled:", "\n".join(lines),
            "![Headline: every pair of runs, pooled, 95% intervals](figures/headline.png)"]


def headline_markdown(headline: dict) -> str:
    lines = ["| metric | within groups | across groups | within - across | pairs (within, across) |",
             "|---|---|---|---|---|"]
    for name in headline:
        entry = headline[name]
        lines.append(f"| {label(name)} | {fmt(entry['within'])} {interval_text(entry['within_ci'])} "
                     f"| {fmt(entry['across'])} {interval_text(entry['across_ci'])} "
                     f"| {fmt(entry['difference'])} {interval_text(entry['difference_ci'])} "
                     f"| {_pairs(entry, 'within')}, {_pairs(entry, 'across')} |")
    return "\n".join(lines)


def _pairs(entry: dict, side: str) -> str:
    """``n`` pairs, or ``n of m`` when the metric is undefined for some (shown in bold)."""
    defined, total = entry[f"{side}_pairs"], entry[f"{side}_pairs_total"]
    return str(total) if defined == total else f"**{defined} of {total}**"


def _point_estimates(analysis: Analysis) -> list[str]:
    """Which computed metrics have no interval (no block-weighted replicate in the registry)."""
    names = [m.label for m in computed(analysis.settings.measures, analysis.outcomes) if m.replicate is None]
    return [f"Point estimates without an interval: {', '.join(names)}."] if names else []


def _design(analysis: Analysis) -> list[str]:
    """What the runs are: the factors that vary, their levels, and how they relate to the grouping."""
    if analysis.design.empty:
        return ["## Design", "No config key varies across these runs except the grouping's: every pair "
                "differs in the grouping alone."]
    return ["## Design",
            "The config keys whose values vary across the runs (bookkeeping such as paths and loggers "
            "excluded; keys that split the runs identically are one factor, listed together). "
            "*aliased with the grouping*: the grouping itself; *crossed*: every combination of its levels "
            "and the groups was run; *nested*: each level belongs to one group.",
            markdown_table(analysis.design[["factor", "keys", "levels", "runs_per_level", "relation"]])]


def _matching(analysis: Analysis) -> list[str]:
    """How the headline's two sides were made comparable, and what would confound them."""
    weighting = ("every pair weighs the same" if analysis.settings.pair_weighting else
                 "every group (within) and every pair of groups (across) weighs the same")
    lines = [f"Means over pairs: {weighting}."]
    if analysis.matched_on:
        lines.append(f"**Matched on {', '.join(analysis.matched_on)}**: across pairs are re-weighted so that "
                     "they share these factors as often as the within pairs do; the headline compares pairs "
                     "that differ in the grouping alone."
                     + (f" {analysis.dropped_within} within pairs have a sharing pattern no across pair "
                        "has and are left out." if analysis.dropped_within else ""))
        raw = analysis.headline["error_consistency"]
        lines.append(f"Unmatched (every pair as it comes), error consistency would read within "
                     f"{fmt(raw['raw_within'])}, across {fmt(raw['raw_across'])}, difference "
                     f"{fmt(raw['raw_difference'])} {interval_text(raw['raw_difference_ci'])}.")
    confounding = _confounding(analysis.confounds.get("error_consistency", []))
    lines += [_confound_line(found, analysis.factors) for found in confounding]
    groups = analysis.group_table
    singles = groups[(groups["runs"] == 1) & (groups["group"] != POOLED)]
    for group in singles["group"]:
        lines.append(f"Group **{group}** has one run: it has no within pairs (its within values are n/a) and "
                     "its task-metric interval holds test-item variance only, no seed variance.")
    return ["\n".join(f"- {line}" for line in lines)]


CONFOUNDING_GAP = 0.2   # a factor whose share of pairs differs this much between the sides is named


def _share(item: dict) -> float:
    return item["sharing"] / item["pairs"]


def _confounding(items: list[dict]) -> list[dict]:
    """Per factor, the within and across entries when their shares of pairs differ by at least
    CONFOUNDING_GAP (a balanced factorial design differs a little and is not listed)."""
    by_factor: dict[str, dict] = {}
    for item in items:
        by_factor.setdefault(item["factor"], {})[item["side"]] = item
    return [sides for sides in by_factor.values()
            if len(sides) == 2 and abs(_share(sides["within"]) - _share(sides["across"])) >= CONFOUNDING_GAP]


def _confound_line(sides: dict, factors) -> str:
    """A factor shared by more pairs on one side: a confound when the attribution resolves an effect
    of sharing it (its interval excludes 0), else imbalanced with no effect resolved."""
    within, across = sides["within"], sides["across"]
    name = across["factor"]
    shares = (f"shared by {across['sharing']} of {across['pairs']} across pairs and {within['sharing']} of "
              f"{within['pairs']} within pairs")
    rows = factors[(factors["metric"] == "error_consistency") & (factors["factor"] == name)] \
        if not factors.empty else factors
    if rows.empty or not np.isfinite(rows["effect"].iloc[0]):
        return (f"**{name} is imbalanced** ({shares}); its effect could not be estimated. The headline is "
                "matched on it.")
    effect, low, high = (float(rows[key].iloc[0]) for key in ("effect", "ci_low", "ci_high"))
    size = f"sharing it changes κ_err by {with_interval(effect, low, high, signed=True)}"
    if low > 0 or high < 0:
        return f"**Confound: {name}** is {shares}; {size}. The headline above is matched on it."
    return (f"**{name} is imbalanced, no effect resolved** ({shares}; {size}). The headline is matched on "
            "it anyway.")


def _attribution(analysis: Analysis) -> list[str]:
    if analysis.factors.empty:
        return []
    table = analysis.factors.copy()
    table["metric"] = table["metric"].map(label)
    table["effect [95% CI]"] = [f"{fmt(r.effect)} [{fmt(r.ci_low)}, {fmt(r.ci_high)}]"
                                for r in table.itertuples()]
    table["pairs sharing"] = [f"{r.pairs_sharing} of {r.pairs}" for r in table.itertuples()]
    return ["## What makes two runs agree?",
            "Each pair metric regressed on which factors the pair's runs share (least squares over pairs): "
            "a factor's effect is how much more two runs agree when they share it, the other factors held "
            "fixed; *(no factor shared)* is the agreement of two runs that share nothing. *same group* is "
            "the grouping. A factor's interval comes from its levels: the effect fitted per level, their "
            "spread, a t interval on levels − 1 degrees of freedom (so a factor varied at 2 levels rests on "
            "1 degree of freedom, and its note says so); the baseline's from the multi-bootstrap. "
            + calibration_text("attribution", "benchmarks/attribution_coverage.py")
            + " Also in `factors.csv`.",
            markdown_table(table[["metric", "factor", "effect [95% CI]", "pairs sharing", "note"]]),
            "![Effects of sharing each factor](figures/factor_effects.png)"]


def _nested(analysis: Analysis) -> list[str]:
    if analysis.nested is None:
        return []
    lines = ["| metric | within a backbone | across backbones (same recipe) | across architectures "
             "| backbone effect | recipe effect | pairs |", "|---|---|---|---|---|---|---|"]
    for name, entry in analysis.nested.items():
        cells = [f"{fmt(entry[kind])} {interval_text(entry[f'{kind}_ci'])}"
                 for kind in (*NESTED_KINDS, "backbone_effect", "recipe_effect")]
        pairs = ", ".join(str(entry[f"{kind}_pairs"]) for kind in NESTED_KINDS)
        lines.append(f"| {label(name)} | {' | '.join(cells)} | {pairs} |")
    return ["## Does a shared backbone homogenize?",
            "Pairs of runs fine-tuned from the same backbone, from different backbones pretrained the "
            "same way, and of different architectures. *Backbone effect* = within a backbone - across "
            "backbones; *recipe effect* = across backbones - across architectures. Intervals: hierarchical "
            "multi-bootstrap (backbones resampled within each recipe, then fine-tuning seeds within each "
            "drawn backbone, then test items).", "\n".join(lines)]


CLASS_BIAS_CORRELATION = -0.5   # κ_err against the label-rate gap over pairs, at or below: said


def class_bias_line(pairs: pd.DataFrame) -> str | None:
    """A line when pairs agree mostly through shared class bias: error consistency falls as the
    gap between the two runs' predicted label rates grows (runs leaning to the same label agree)."""
    found = pairs[["error_consistency", "label_gap"]].dropna() if "label_gap" in pairs else pd.DataFrame()
    if len(found) < 5 or found["label_gap"].std() == 0 or found["error_consistency"].std() == 0:
        return None
    r = float(np.corrcoef(found["error_consistency"], found["label_gap"])[0, 1])
    if r > CLASS_BIAS_CORRELATION:
        return None
    return (f"**Class bias.** Across {len(found)} pairs, error consistency falls as the gap between the two "
            f"runs' predicted label rates grows (r = {r:.2f}): much of this agreement is shared class bias, "
            "runs leaning to the same label, as near-chance runs do. Read Cohen's κ beside it (`pairs.csv`: "
            "`cohen_kappa`, whose chance is each run's own label distribution, Cohen 1960) and the "
            "`label_gap` of each pair; docs/studies_and_report.md has the bias-adjusted reading.")


def _run_flags(analysis: Analysis) -> list[str]:
    flagged = analysis.run_table[analysis.run_table["flags"] != ""]
    bias = class_bias_line(analysis.pairs)
    if flagged.empty:
        return ["## Flagged runs", bias] if bias else []
    return ["## Flagged runs", *([bias] if bias else []),
            "Runs that did not learn the task agree with each other for trivial reasons; read their "
            "groups' figures with that in mind. *near chance*: the run's 95% interval (test items "
            "resampled) reaches the chance level (majority-class rate; 0 for entity F1). *untrained*: "
            "0 training steps (a legitimate baseline).",
            markdown_table(flagged[["run", "group", "metric", "value", "ci_low", "ci_high", "chance",
                                    "flags"]])]


def _markdown(analysis: Analysis, skipped: list[tuple[Path, str]]) -> str:
    outcomes, settings = analysis.outcomes, analysis.settings
    n_units = outcomes.errors.shape[1]
    parts = [
        "# Homogenization report",
        f"{len(analysis.runs)} runs in {len(analysis.groups)} groups ({', '.join(analysis.groups)}), "
        f"task {outcomes.task}, {n_units} test units ({PLURAL[outcomes.unit]}) in {outcomes.n_items} items. "
        f"Intervals are 95% multi-bootstrap intervals (B = {settings.bootstrap}; seeds resampled within "
        f"each group and test items resampled in {min(settings.blocks, outcomes.n_items)} random blocks, "
        "jointly).",
        *_the_runs(analysis),
        *_design(analysis),
        "## Headline: are runs of the same group more alike than runs of different groups?",
        *headline_section(analysis),
        *_without_representations(analysis),
        *_matching(analysis),
        "\n".join(f"- **{METRICS[name].label}**: {METRICS[name].definition}" for name in analysis.headline),
        *_point_estimates(analysis),
        *_attribution(analysis),
        *pretraining_markdown(analysis),
        *drift_markdown(analysis),
        *_nested(analysis),
        *_run_flags(analysis),
        *_groups(analysis),
        *_layers(analysis),
        *_over_training(analysis),
        *_systemic_failures(analysis),
        *_entity_types(analysis),
        *trend_markdown(analysis.trend, analysis),
        "## Figures",
        *_heatmaps(analysis),
        "Number of runs failing each unit, observed and under independent errors: "
        "homogenized runs pile up at k = 0 and k = all.",
        "![Failure histogram](figures/k_histogram.png)",
        "![Task metric per group](figures/task_metric.png)",
        "## Files",
        "`pairs.csv` (one row per pair of runs), `design.csv` (the factors), `factors.csv` (what makes "
        "runs agree), `groups.csv`, `runs.csv` (task metric and flags per run), "
        f"`units.csv` (one row per test unit: text, gold, per group the runs that got it wrong and their "
        f"predictions, `wrong_all` = K), {'`entity_types.csv`, ' if not analysis.entity_types.empty else ''}"
        "`k_histograms.csv`, `homogenization.json`.",
    ]
    if skipped:
        parts += ["## Skipped runs", *[f"- `{path}`: {reason}" for path, reason in skipped]]
    return "\n\n".join(parts) + "\n"


def _groups(analysis: Analysis) -> list[str]:
    """The groups table and what its columns mean."""
    outcomes, settings = analysis.outcomes, analysis.settings
    table = markdown_table(readable_groups(analysis.group_table, outcomes.metric_name, settings.measures))
    undefined = [f"- **{row.group}**: {row.undefined}" for row in analysis.group_table.itertuples()
                 if row.undefined]
    return [
        "## Groups",
        table,
        *(["Metrics undefined for some pairs (e.g. error consistency of runs that fail every unit, or "
           "similarities of degenerate representations); the figures above rest on the other pairs:",
           "\n".join(undefined)] if undefined else []),
        f"- **{outcomes.metric_name}**: per run, mean and standard deviation over the group's "
        "runs, with its multi-bootstrap interval. Pair metrics are means over the group's pairs of runs; "
        f"**{POOLED}** pools every run, whatever its group.\n"
        "- **all wrong**: fraction of units every run of the group gets wrong, observed / if the runs "
        "erred independently (product of error rates).\n"
        "- **same outcome for all**: fraction of units all runs get right or all get wrong, observed / "
        "under independence (Poisson-binomial).\n"
        "- **Fleiss' κ**: agreement of the runs on right/wrong per unit, beyond chance."
        + "".join(f"\n- **{METRICS[name].label}**: {METRICS[name].definition} Per pair in `pairs.csv`."
                  for name in settings.measures),
    ]


def _heatmaps(analysis: Analysis) -> list[str]:
    """A runs x runs figure for every registered metric with ``heatmap=True`` that was computed,
    linked and defined (its label, definition and fixed scale come from the registry)."""
    drawn = [METRICS[name] for name in analysis.matrices]
    if not drawn:
        return []
    return [*(f"![{metric.label} per pair](figures/{metric.name}.png)" for metric in drawn),
            "\n".join(f"- **{metric.label}** (on a fixed scale, {fmt(metric.scale[0])} to "
                      f"{fmt(metric.scale[1])}): {metric.definition}" for metric in drawn),
            "Runs are ordered by group, with lines between groups; a cell on the diagonal is no pair (a "
            f"run with itself) and is left grey; the values are in the cells up to "
            f"{figures.CELL_VALUES_UP_TO} runs."]


def _systemic_failures(analysis: Analysis) -> list[str]:
    units = analysis.outcomes.unit
    qualifying = len(systemic_failures(analysis.units, limit=None))
    worst = systemic_failures(analysis.units)
    header = ["## Systemic failures",
              f"{qualifying} of {len(analysis.units)} {PLURAL[units]} are failed by at least half of the "
              f"{len(analysis.runs)} runs; the {len(worst)} most-failed are shown, all are in `units.csv`."]
    if worst.empty:
        return header + ["No unit is failed by half of the runs or more."]
    shown = [c for c in ("unit", "text", units if units != "example" else None, "gold", "wrong_all")
             if c in worst.columns]
    shown += [f"wrong_{group}" for group in analysis.groups]
    table = worst[shown].copy()
    if "text" in table:
        table["text"] = [text if len(text) <= 120 else text[:117] + "..." for text in table["text"]]
    return header + [markdown_table(table.astype(str))]


def _layers(analysis: Analysis) -> list[str]:
    if analysis.layers is None:
        return []
    curves = analysis.layers.curves
    within = curves[curves.group_a == curves.group_b]
    table = pd.DataFrame({"layer": within.layer, "group": within.group_a,
                          "linear CKA [95% CI]": [f"{fmt(v)} {interval_text([lo, hi])}" for v, lo, hi in
                                                  zip(within.linear_cka, within.ci_low, within.ci_high)],
                          "pairs": within.pairs})
    return ["## Layer by layer",
            "Linear CKA between the same layer of different runs (layer 0 = the embedding output), within "
            "each group; `layer_curves.csv` also has groups of the same depth against each other, "
            "`layer_pairs.csv` every layer pair of every pair of runs.",
            markdown_table(table.astype(str)),
            "![Same-layer CKA](figures/same_layer_cka.png)",
            "![Layer x layer CKA](figures/layer_heatmaps.png)"]


def _over_training(analysis: Analysis) -> list[str]:
    if analysis.epochs.empty:
        return []
    table = analysis.epochs.pivot_table(index="epoch", columns=["metric", "side"], values="value")
    table.columns = [f"{label(metric)}, {side}" for metric, side in table.columns]
    since = analysis.units.get("systemic_since_epoch")
    counts = "" if since is None else (
        f" {int(since.notna().sum())} units are failed by every run from some epoch on to the end "
        "(`systemic_since_epoch` in `units.csv`).")
    return ["## Over training",
            "Pairwise error consistency and linear CKA of each epoch's test predictions and "
            "representations, within and across groups (intervals in `epochs.csv`)." + counts,
            markdown_table(table.reset_index().astype(str)),
            "![Homogenization over training](figures/over_training.png)"]


def _entity_types(analysis: Analysis) -> list[str]:
    if analysis.entity_types.empty:
        return []
    return ["## Per entity type",
            "Outcome metrics per gold entity type: the mean error rate over runs, error consistency of "
            "pairs within and across groups, and the share of the type's entities every run fails, "
            "observed and under independent errors.",
            markdown_table(analysis.entity_types)]


MARKER = "homogenization.json"


def check_report_destination(out_dir: Path) -> None:
    """Refuse ``out=`` that is a file, or a directory holding something other than a report: the
    report replaces its destination, and nothing but an earlier report may be lost."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"out={out_dir}: is a file; the report is a directory. Choose another out=.")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MARKER).is_file():
        raise UserError(f"out={out_dir}: this directory holds files that are not a report, and the report "
                        "would replace them. Choose a new or empty directory (e.g. out=<sweep>/report).")


def write_report(analysis: Analysis, out_dir: Path, skipped: list[tuple[Path, str]]) -> Path:
    """Write the report to ``out_dir`` (replacing a previous report, never anything else)."""
    out_dir = Path(out_dir)
    check_report_destination(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with room_for(out_dir, "the report", "Nothing was written, and an earlier report there is intact: "
                  "free space, or choose out= on a larger disk, and run the analysis again."):
        for stale in clear_stale_staging(out_dir.parent, out_dir.name):
            log.warning("removed %s, left by an analysis that was killed", stale)
        staging = staging_dir(out_dir.parent, out_dir.name)
        try:
            _write_files(analysis, staging, skipped)
            if out_dir.exists():
                shutil.rmtree(out_dir)
            staging.rename(out_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return out_dir


def _write_files(analysis: Analysis, staging: Path, skipped: list[tuple[Path, str]]) -> None:
    """Every file of the report, into the staging folder."""
    (staging / "figures").mkdir()
    analysis.pairs.to_csv(staging / "pairs.csv", index=False)
    analysis.group_table.to_csv(staging / "groups.csv", index=False)
    analysis.run_table.to_csv(staging / "runs.csv", index=False)
    analysis.k_histograms.to_csv(staging / "k_histograms.csv", index=False)
    analysis.units.to_csv(staging / "units.csv", index=False)
    analysis.design.to_csv(staging / "design.csv", index=False)
    analysis.factors.to_csv(staging / "factors.csv", index=False)
    figures.factor_effects(analysis.factors, staging / "figures" / "factor_effects.png")
    if not analysis.epochs.empty:
        analysis.epochs.to_csv(staging / "epochs.csv", index=False)
        figures.over_training(analysis.epochs, staging / "figures" / "over_training.png")
    if analysis.layers is not None:
        analysis.layers.pairs.to_csv(staging / "layer_pairs.csv", index=False)
        analysis.layers.curves.to_csv(staging / "layer_curves.csv", index=False)
        if analysis.layers.heatmaps:
            figures.layer_heatmaps(analysis.layers.heatmaps, staging / "figures" / "layer_heatmaps.png")
        if not analysis.layers.curves.empty:
            figures.same_layer_curve(analysis.layers.curves, staging / "figures" / "same_layer_cka.png")
    if not analysis.entity_types.empty:
        analysis.entity_types.to_csv(staging / "entity_types.csv", index=False)
    if analysis.trend is not None:
        write_trend_files(analysis.trend, analysis, staging)
    write_backbone_files(analysis, staging)
    summary = {
        "headline": analysis.headline,
        "design": analysis.design.to_dict(orient="records"),
        "matched_on": analysis.matched_on,
        "confounds": analysis.confounds,
        "factors": analysis.factors.to_dict(orient="records"),
        "nested": analysis.nested,
        "pretraining": analysis.pretraining.to_dict(orient="records"),
        "trend": None if analysis.trend is None else {
            "key": analysis.trend.key, "scale": analysis.trend.scale,
            "levels": analysis.trend.levels.to_dict(orient="records"),
            "trends": analysis.trend.trends.to_dict(orient="records")},
        "groups": analysis.group_table.to_dict(orient="records"),
        "runs": [{"name": r.name, "path": str(r.path), **row} for r, row in
                 zip(analysis.runs, analysis.run_table.drop(columns="run").to_dict("records"))],
        "skipped": [{"path": str(p), "reason": reason} for p, reason in skipped],
        "task": analysis.outcomes.task, "unit": analysis.outcomes.unit,
        "test_fingerprint": analysis.runs[0].test_fingerprint,
        "settings": asdict(analysis.settings),
    }
    (staging / MARKER).write_text(json.dumps(summary, indent=2, default=float))
    names = [run.name for run in analysis.runs]
    run_groups = [run.group for run in analysis.runs]
    for name, matrix in analysis.matrices.items():
        figures.pair_heatmap(matrix, names, run_groups, METRICS[name].label,
                             staging / "figures" / f"{name}.png", METRICS[name].scale)
    figures.k_histogram(analysis.k_histograms, staging / "figures" / "k_histogram.png")
    figures.task_metric(analysis.group_table, analysis.run_table, chance_level(analysis.outcomes),
                        staging / "figures" / "task_metric.png")
    figures.headline(analysis.headline, {name: METRICS[name].label for name in analysis.headline},
                     staging / "figures" / "headline.png", pooled=one_side_empty(analysis) is not None)
    (staging / "report.md").write_text(_markdown(analysis, skipped))
