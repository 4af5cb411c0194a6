"""The report's section on scale (``analysis.trend``): its tables, figures and words."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from homogenization.analysis.calibration import calibration_text
from homogenization.analysis.design.trends import LEARNED, LOST, SYSTEMIC, Trend, level_text
from homogenization.analysis.metrics.registry import METRICS
from homogenization.analysis.report import figures
from homogenization.analysis.report.tables import fmt, with_interval
from homogenization.analysis.study import Analysis

EXAMPLES = 5  # units of each pattern quoted in the report


def _direction(low: float, high: float) -> str:
    if not (np.isfinite(low) and np.isfinite(high)):
        return "no interval"
    return "rises" if low > 0 else "falls" if high < 0 else "no trend the interval can tell from none"


def write_trend_files(trend: Trend, analysis: Analysis, folder: Path) -> None:
    """levels.csv, trends.csv, level_pairs.csv, capability.csv and the four figures."""
    names = list(trend.level_matrices)
    trend.levels.to_csv(folder / "levels.csv", index=False)
    trend.trends.to_csv(folder / "trends.csv", index=False)
    trend.capability.to_csv(folder / "capability.csv", index=False)
    levels = trend.levels["level"].tolist()
    rows = [
        {
            "metric": name,
            "level_a": levels[i],
            "level_b": levels[j],
            "value": matrix[i, j],
            "pairs": trend.level_pairs[name][i, j],
        }
        for name, matrix in trend.level_matrices.items()
        for (i, j), _ in np.ndenumerate(matrix)
        if i <= j
    ]
    pd.DataFrame(rows).to_csv(folder / "level_pairs.csv", index=False)
    figures.trend_task_metric(
        trend.levels,
        trend.run_levels,
        analysis.run_table["value"].to_numpy(),
        trend.key,
        trend.scale,
        folder / "figures" / "trend_task_metric.png",
    )
    figures.trend_homogenization(
        trend.levels,
        trend.trends,
        names,
        trend.key,
        trend.scale,
        folder / "figures" / "trend_homogenization.png",
    )
    figures.alignment_capability(
        trend.capability,
        trend.trends,
        names,
        analysis.outcomes.metric_name,
        folder / "figures" / "alignment_capability.png",
    )
    figures.level_matrices(trend.level_matrices, levels, trend.key, folder / "figures" / "level_matrix.png")


def trend_markdown(trend: Trend | None, analysis: Analysis) -> list[str]:
    if trend is None:
        if analysis.settings.trend:
            return ["## Homogenization and scale",
                    f"`analysis.trend={analysis.settings.trend}`: every run has the same value; a trend "
                    "needs two levels or more."]
        return []
    levels = trend.levels
    per = "doubling of " + trend.key if trend.scale == "log2" else "unit of " + trend.key
    metric = levels["metric"].iloc[0]
    return [
        "## Homogenization and scale",
        f"`analysis.trend={trend.key}`: {len(levels)} levels "
        f"({', '.join(map(level_text, levels['level']))}), {int(levels['runs'].sum())} runs. Within a "
        "level: the mean over pairs of runs of that level, with the headline's crossed runs-by-items "
        "interval (runs resampled within their level). " + _caveats(levels),
        _level_rows(trend),
        f"Slopes per {per}" + (" (log2 of the value)" if trend.scale == "log2" else "")
        + ": least squares over the level means, every level weighing the same, with the crossed interval "
        "of that combination (Satterthwaite's degrees of freedom, the levels at the ends of the axis "
        "counting most). " + calibration_text("trend", "benchmarks/trend_coverage.py")
        + " *Accuracy held fixed*: "
        f"for metrics that do not already adjust for accuracy, the slope with the pair's mean {metric} as "
        f"a covariate. *Against the pair's mean {metric}*: every pair's value regressed on its mean "
        f"{metric} (alignment against capability, per 1.0 of {metric}). These two intervals are "
        "percentiles of the joint bootstrap. Also in `trends.csv` and `levels.csv`.",
        _slope_rows(trend, metric),
        *_unit_patterns(trend, analysis),
        "![Task metric against scale](figures/trend_task_metric.png)",
        "![Homogenization against scale](figures/trend_homogenization.png)",
        "![Alignment against capability](figures/alignment_capability.png)",
        "Level x level: the mean over pairs with one run at each level (do small models agree with "
        "large ones?); `level_pairs.csv`, with the pairs of each cell.",
        "![Level x level](figures/level_matrix.png)",
    ]


def _level_rows(trend: Trend) -> str:
    """The levels table: runs, task metric, chance and each headline metric within the level."""
    levels, names = trend.levels, list(trend.level_matrices)
    header = ["level", "runs", f"{levels['metric'].iloc[0]} [95% CI]", "chance",
              *[f"{METRICS[n].label} [95% CI] (pairs)" for n in names]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in levels.to_dict("records"):
        cells = [level_text(row["level"]), str(row["runs"]),
                 with_interval(row["metric_mean"], row["metric_ci_low"], row["metric_ci_high"]),
                 fmt(row["chance"]),
                 *[f"{with_interval(row[n], row[f'{n}_ci_low'], row[f'{n}_ci_high'])} ({row[f'{n}_pairs']})"
                   for n in names]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _slope_rows(trend: Trend, metric: str) -> str:
    """The slopes table: each metric's slope, what it reads, with accuracy held fixed, against
    capability."""
    lines = [f"| metric | slope per {'doubling' if trend.scale == 'log2' else 'unit'} [95% CI] | reads "
             f"| accuracy held fixed [95% CI] | against the pair's mean {metric} [95% CI] | pairs |",
             "|---|---|---|---|---|---|"]
    for row in trend.trends.to_dict("records"):
        name = row["metric"]
        adjusted = name in METRICS and METRICS[name].adjusts_for_accuracy
        given = (with_interval(row["slope_given_metric"], row["given_ci_low"], row["given_ci_high"], True)
                 if np.isfinite(row.get("slope_given_metric", np.nan))
                 else ("(adjusts for accuracy)" if adjusted else ""))
        capability = (with_interval(row["capability_slope"], row["capability_ci_low"],
                                    row["capability_ci_high"], True)
                      if np.isfinite(row.get("capability_slope", np.nan)) else "")
        lines.append(f"| {METRICS[name].label if name in METRICS else name} | "
                     f"{with_interval(row['slope'], row['ci_low'], row['ci_high'], True)} | "
                     f"{_direction(row['ci_low'], row['ci_high'])} | {given} | {capability} | "
                     f"{row['pairs'] or ''} |")
    return "\n".join(lines)


def _caveats(levels: pd.DataFrame) -> str:
    """Levels near chance, and levels with too few runs for their intervals to hold run variance."""
    near_chance = levels[~(levels["metric_ci_low"] > levels["chance"])]["level"].tolist()
    text = ("Every level is above chance (its 95% interval excludes the chance level)." if not near_chance
            else f"Level(s) {', '.join(map(level_text, near_chance))} reach the chance level: agreement "
            "there may be trivial.")
    few = levels[levels["runs"] < 3]["level"].tolist()
    if few:
        text += (f" Level(s) {', '.join(map(level_text, few))} have fewer than 3 runs: resampling 2 runs "
                 "cannot show how much runs vary, so their intervals and the slopes' hold the test items' "
                 "variance only; use 3 seeds or more.")
    return text


def _unit_patterns(trend: Trend, analysis: Analysis) -> list[str]:
    units = analysis.units
    smallest, largest = trend.levels["level"].iloc[0], trend.levels["level"].iloc[-1]
    counts = {
        pattern: int((units["scale_pattern"] == pattern).sum()) for pattern in (LEARNED, LOST, SYSTEMIC)
    }
    lines = [
        f"Of {len(units)} test units: **{counts[LEARNED]} learned with scale** (failed by most runs at "
        f"{level_text(smallest)}, by fewer than half at {level_text(largest)}), "
        f"**{counts[LOST]} lost with scale** (the "
        f"reverse), **{counts[SYSTEMIC]} systemic across scale** (failed by every run of every level). "
        "`units.csv`, column `scale_pattern`."
    ]
    if "text" in units:
        for pattern in (LEARNED, SYSTEMIC):
            examples = units[units["scale_pattern"] == pattern].sort_values("wrong_all", ascending=False)
            quoted = [f"  - {str(text)[:100]}" for text in examples["text"].head(EXAMPLES)]
            if quoted:
                lines.append(f"- {pattern}, e.g.:\n" + "\n".join(quoted))
    return lines
