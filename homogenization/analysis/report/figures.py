"""The report's figures (matplotlib, written as PNG).

Figures are ``matplotlib.figure.Figure`` objects drawn without pyplot: importing this module never
switches the user's backend (a notebook keeps its own), and nothing global is left open.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from homogenization.analysis.design.trends import level_text
from homogenization.analysis.metrics.registry import METRICS


def subplots(*grid: int, figsize: tuple[float, float], **options):
    """``pyplot.subplots`` without pyplot: a new Figure and its axes."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*grid, **options)


def save(fig, path: Path, tight: bool = True) -> None:
    """Write a figure as PNG and free it (``tight=False``: crop to its content instead, for
    figures whose colour bar spans several axes)."""
    if tight:
        fig.tight_layout()
        fig.savefig(path, dpi=120)
    else:
        fig.savefig(path, dpi=120, bbox_inches="tight")


# A study of hundreds of runs gets a heatmap of this size at most (a 72-inch figure of 200 runs took
# 3 GB to draw), with a tick per group instead of per run above RUN_NAMES_UP_TO runs.
HEATMAP_INCHES_AT_MOST = 16.0
RUN_NAMES_UP_TO = 40
CELL_VALUES_UP_TO = 20   # runs; beyond, numbers in the cells would be unreadable
NO_PAIR = "#bdbdbd"      # the diagonal: a run with itself is no pair
SEPARATOR = "#222222"    # lines between groups


def pair_heatmap(matrix: np.ndarray, names: list[str], groups: list[str], title: str, path: Path,
                 scale: tuple[float, float] = (0.0, 1.0)) -> Figure:
    """Runs x runs heatmap on the metric's fixed scale (stated in the colour bar), runs ordered by
    group, lines between groups, and the value in each cell up to ``CELL_VALUES_UP_TO`` runs."""
    matrix = np.where(np.eye(len(matrix), dtype=bool), np.nan, matrix)   # self-pairs are 1 by definition
    size = min(HEATMAP_INCHES_AT_MOST, max(4.0, 0.35 * len(names) + 2))
    fig, ax = subplots(figsize=(size + 1, size))
    low, high = scale
    # signed metrics: 0 (chance) is white; the diagonal (no pair) is grey, never a value
    cmap = matplotlib.colormaps["RdBu_r" if low < 0 else "viridis"].with_extremes(bad=NO_PAIR)
    image = ax.imshow(matrix, cmap=cmap, vmin=low, vmax=high)
    if len(names) <= CELL_VALUES_UP_TO:
        for (i, j), value in np.ndenumerate(matrix):
            if np.isfinite(value):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6,
                        color="black" if low < 0 or value > low + 0.6 * (high - low) else "white")
    if len(names) <= RUN_NAMES_UP_TO:
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(names)), names, fontsize=7)
    else:   # hundreds of runs: one tick per group, at its middle (run names would not be legible)
        middles = {group: np.mean([i for i, g in enumerate(groups) if g == group])
                   for group in dict.fromkeys(groups)}
        ax.set_xticks(list(middles.values()), list(middles), fontsize=12)
        ax.set_yticks(list(middles.values()), list(middles), fontsize=12)
        ax.set_xlabel(f"{len(names)} runs, ordered by group")
    boundaries = [i + 0.5 for i in range(len(groups) - 1) if groups[i] != groups[i + 1]]
    for boundary in boundaries:   # dark lines: visible on the diverging scale's white (0) as on viridis
        ax.axhline(boundary, color=SEPARATOR, linewidth=1.5)
        ax.axvline(boundary, color=SEPARATOR, linewidth=1.5)
    fig.colorbar(image, ax=ax, fraction=0.046).set_label(f"fixed scale {low:g} to {high:g}", fontsize=8)
    ax.set_title(title)
    save(fig, path)
    return fig


def k_histogram(histograms: pd.DataFrame, path: Path) -> None:
    """Fraction of units failed by exactly k runs, observed vs independent errors, per group."""
    labels = list(dict.fromkeys(histograms["group"]))
    fig, axes = subplots(1, len(labels), figsize=(3.6 * len(labels), 3.2), squeeze=False)
    for ax, label in zip(axes[0], labels):
        part = histograms[histograms["group"] == label]
        ax.bar(part["k"] - 0.2, part["observed"], width=0.4, label="observed")
        ax.bar(part["k"] + 0.2, part["independent"], width=0.4, label="if errors were independent")
        ax.set_title(label)
        ax.set_xlabel("k = runs that fail the unit")
        ax.set_ylim(0, None)                      # linear: bar heights are the fractions themselves
        ax.set_xticks(part["k"])
    axes[0][0].set_ylabel("fraction of units")
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper center", ncol=2, fontsize=8, bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    save(fig, path, tight=False)


def task_metric(groups: pd.DataFrame, runs: pd.DataFrame, chance: float, path: Path) -> None:
    """Per group: each run's task metric (points), the mean with its 95% multi-bootstrap interval,
    and the chance level; the axis starts at chance (or 0) so differences keep their size."""
    groups = groups[groups["group"].isin(runs["group"])].reset_index(drop=True)   # not the pooled row
    fig, ax = subplots(figsize=(1.2 * len(groups) + 2.5, 3.4))
    # a percentile interval need not hold the mean of a group's runs (a skewed few): never a negative bar
    low = np.clip(np.nan_to_num(groups["metric_mean"] - groups["metric_ci_low"]), 0, None)
    high = np.clip(np.nan_to_num(groups["metric_ci_high"] - groups["metric_mean"]), 0, None)
    ax.errorbar(np.arange(len(groups)) + 0.15, groups["metric_mean"], yerr=[low, high], fmt="o", capsize=4,
                color="black", label="mean, 95% interval")
    for index, group in enumerate(groups["group"]):
        values = runs.loc[runs["group"] == group, "value"]
        ax.scatter(np.full(len(values), index - 0.15), values, s=14, alpha=0.7, color="tab:blue",
                   label="one run" if index == 0 else None)
    ax.axhline(chance, color="grey", linestyle="--", linewidth=1, label=f"chance ({chance:.3f})")
    ax.set_ylim(min(chance, float(runs["value"].min())) - 0.02, 1.0)
    ax.set_xticks(range(len(groups)), groups["group"])
    ax.set_ylabel(groups["metric"].iloc[0])
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Task metric per group (points: runs)", fontsize=9)
    save(fig, path)


def headline(entries: dict[str, dict], labels: dict[str, str], path: Path, pooled: bool = False) -> None:
    """Per headline metric: within, across and their difference, each with its 95% interval; with
    ``pooled`` (one side has no pairs), every pair of runs pooled instead: no empty panel."""
    names = [name for name in entries if not pooled or np.isfinite(entries[name]["pooled"])]
    sides = (("pooled", "black"),) if pooled else (("within", "tab:blue"), ("across", "tab:orange"),
                                                   ("difference", "black"))
    fig, axes = subplots(1, max(len(names), 1), figsize=(2.4 * max(len(names), 1) + 0.5, 3.0), squeeze=False)
    for ax, name in zip(axes[0], names):
        entry = entries[name]
        for x, (side, colour) in enumerate(sides):
            value, (low, high) = entry[side], entry[f"{side}_ci"]
            if np.isfinite(value):
                error = [[max(value - low, 0.0)], [max(high - value, 0.0)]] if np.isfinite(low) else None
                ax.errorbar([x], [value], yerr=error, fmt="o", capsize=4, color=colour)
        ax.axhline(0, color="grey", linewidth=0.8)
        ticks = ["every pair"] if pooled else ["within", "across", "within −\nacross"]
        ax.set_xticks(range(len(sides)), ticks, fontsize=7)
        ax.set_title(labels[name], fontsize=8)
    save(fig, path)


def layer_heatmaps(maps: dict[tuple[str, str], np.ndarray], path: Path) -> None:
    """One layer x layer CKA map per group (within) and per pair of groups (across)."""
    fig, axes = subplots(1, len(maps), figsize=(3.4 * len(maps) + 0.8, 3.4), squeeze=False)
    for ax, ((first, second), matrix) in zip(axes[0], maps.items()):
        image = ax.imshow(matrix, cmap="viridis", vmin=0, vmax=1, origin="lower")
        ax.set_title(first if first == second else f"{first} vs {second}", fontsize=9)
        ax.set_xlabel(f"layer of {second}")
        ax.set_ylabel(f"layer of {first}")
    fig.colorbar(image, ax=list(axes[0]), fraction=0.03)
    fig.suptitle("Linear CKA between layers (mean over pairs of runs)", fontsize=10)
    save(fig, path, tight=False)


def same_layer_curve(curves: pd.DataFrame, path: Path) -> None:
    """Layer k vs the mean CKA of layer k between runs, within groups and across, with intervals."""
    fig, ax = subplots(figsize=(5.5, 3.4))
    for (first, second), part in curves.groupby(["group_a", "group_b"], sort=False):
        label = first if first == second else f"{first} vs {second}"
        ax.plot(part["layer"], part["linear_cka"], marker="o", label=label,
                linestyle="-" if first == second else "--")
        ax.fill_between(part["layer"], part["ci_low"], part["ci_high"], alpha=0.2)
    ax.set_xlabel("layer (0 = embedding output)")
    ax.set_ylabel("linear CKA at the same layer")
    ax.set_title("Where do runs converge? (95% multi-bootstrap intervals)", fontsize=9)
    ax.legend(fontsize=7)
    save(fig, path)


def over_training(curves: pd.DataFrame, path: Path) -> None:
    """Error consistency and linear CKA against epoch, within and across groups, with intervals."""
    metrics = list(dict.fromkeys(curves["metric"]))
    fig, axes = subplots(1, len(metrics), figsize=(4.6 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for side, part in curves[curves["metric"] == metric].groupby("side", sort=False):
            ax.plot(part["epoch"], part["value"], marker="o", label=f"{side} groups")
            ax.fill_between(part["epoch"], part["ci_low"], part["ci_high"], alpha=0.2)
        ax.set_title(METRICS[metric].label, fontsize=9)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    fig.suptitle("Homogenization over training (95% multi-bootstrap intervals)", fontsize=10)
    save(fig, path)


def factor_effects(factors: pd.DataFrame, path: Path) -> None:
    """What makes two runs agree: each factor's effect of being shared, with its 95% interval,
    one panel per metric (factors.csv)."""
    estimable = factors[(factors["note"] == "") & factors["effect"].notna()]
    metrics = list(dict.fromkeys(estimable["metric"]))
    if not metrics:
        return
    height = 0.5 + 0.45 * estimable["factor"].nunique()
    fig, axes = subplots(1, len(metrics), figsize=(3.2 * len(metrics), height), sharey=True,
                             squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        rows = estimable[estimable["metric"] == metric]
        y = np.arange(len(rows))
        # a percentile interval need not contain its point estimate: draw what lies on each side
        below, above = rows["effect"] - rows["ci_low"], rows["ci_high"] - rows["effect"]
        spread = np.nan_to_num(np.clip([below, above], 0, None))
        ax.errorbar(rows["effect"], y, xerr=spread, fmt="o", color="tab:blue", capsize=3)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(y, rows["factor"])
        ax.set_title(METRICS[metric].label, fontsize=9)
        ax.set_xlabel("effect of sharing it", fontsize=8)
    axes[0][0].invert_yaxis()
    save(fig, path)


PANELS_PER_ROW = 3


def _panels(count: int, width: float, height: float):
    """A figure of ``count`` panels, at most PANELS_PER_ROW per row; returns (figure, axes), the
    unused axes hidden."""
    columns = min(count, PANELS_PER_ROW)
    rows = -(-count // columns)
    fig, axes = subplots(rows, columns, figsize=(width * columns + 0.6, height * rows), squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:count])


def _level_axis(ax, key: str, scale: str) -> None:
    if scale == "log2":
        ax.set_xscale("log", base=2)
    ax.set_xlabel(f"{key}" + (" (log scale)" if scale == "log2" else ""))


def trend_task_metric(levels: pd.DataFrame, run_levels: np.ndarray, run_values: np.ndarray, key: str,
                      scale: str, path: Path) -> None:
    """The task metric against the trend key: each run (points), each level's mean with its 95%
    interval, and the chance level."""
    fig, ax = subplots(figsize=(5.2, 3.4))
    ax.scatter(run_levels, run_values, s=14, alpha=0.6, color="tab:blue", label="one run")
    mean = levels["metric_mean"]
    error = [mean - levels["metric_ci_low"], levels["metric_ci_high"] - mean]
    ax.errorbar(levels["level"], levels["metric_mean"], yerr=np.nan_to_num(np.clip(error, 0, None)), fmt="o-",
                capsize=4, color="black", label="level mean, 95% interval")
    chance = float(levels["chance"].iloc[0])
    ax.axhline(chance, color="grey", linestyle="--", linewidth=1, label=f"chance ({chance:.3f})")
    _level_axis(ax, key, scale)
    ax.set_ylabel(levels["metric"].iloc[0])
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Task metric against scale", fontsize=9)
    save(fig, path)


def trend_homogenization(levels: pd.DataFrame, trends: pd.DataFrame, names: list[str], key: str, scale: str,
                         path: Path) -> None:
    """Per headline metric: the mean over pairs within each level with its 95% interval (band), and
    the fitted trend line with its slope and interval in the title."""
    fig, axes = _panels(len(names), 3.3, 3.2)
    x = levels["x"].to_numpy()
    for ax, name in zip(axes, names):
        ax.fill_between(levels["level"], levels[f"{name}_ci_low"], levels[f"{name}_ci_high"], alpha=0.25,
                        color="tab:blue", label="95% interval")
        ax.plot(levels["level"], levels[name], "o", color="tab:blue", label="within a level")
        row = trends[trends["metric"] == name].iloc[0]
        defined = levels[name].notna().to_numpy()
        if np.isfinite(row["slope"]) and defined.sum() >= 2:
            centre_x, centre_y = x[defined].mean(), levels[name].to_numpy()[defined].mean()
            ax.plot(levels["level"], centre_y + row["slope"] * (x - centre_x), "--", color="black",
                    label="least-squares trend")
        per = "doubling" if scale == "log2" else "unit"
        ax.set_title(f"{METRICS[name].label}\nslope {row['slope']:+.3f} [{row['ci_low']:+.3f}, "
                     f"{row['ci_high']:+.3f}] per {per}", fontsize=8)
        _level_axis(ax, key, scale)
    axes[0].legend(fontsize=6)
    save(fig, path)


def alignment_capability(capability: pd.DataFrame, trends: pd.DataFrame, names: list[str], metric: str,
                         path: Path) -> None:
    """Per headline metric: every pair's value against the pair's mean task metric (pairs within a
    level coloured by level, pairs across levels grey), with the least-squares line."""
    fig, axes = _panels(len(names), 3.3, 3.2)
    same = capability["level_a"] == capability["level_b"]
    levels = sorted(set(capability.loc[same, "level_a"]))
    colours = matplotlib.colormaps.get_cmap("viridis")(np.linspace(0, 0.9, max(len(levels), 1)))
    for ax, name in zip(axes, names):
        across = capability[~same]
        ax.scatter(across["mean_metric"], across[name], s=8, color="lightgrey", label="across levels")
        for level, colour in zip(levels, colours):
            part = capability[same & (capability["level_a"] == level)]
            ax.scatter(part["mean_metric"], part[name], s=14, color=colour,
                       label=f"within {level_text(level)}")
        row = trends[trends["metric"] == name].iloc[0]
        finite = capability[np.isfinite(capability[name])]
        if np.isfinite(row["capability_slope"]) and len(finite) > 1:
            grid = np.linspace(finite["mean_metric"].min(), finite["mean_metric"].max(), 10)
            centre = finite["mean_metric"].mean()
            fitted = finite[name].mean() + row["capability_slope"] * (grid - centre)
            ax.plot(grid, fitted, "--", color="black")
        ax.set_title(f"{METRICS[name].label}\nslope {row['capability_slope']:+.2f} "
                     f"[{row['capability_ci_low']:+.2f}, {row['capability_ci_high']:+.2f}]", fontsize=8)
        ax.set_xlabel(f"pair's mean {metric}")
    axes[0].legend(fontsize=6)
    save(fig, path)


def level_matrices(matrices: dict[str, np.ndarray], levels: list[float], key: str, path: Path) -> None:
    """Per headline metric: the level x level mean over pairs (diagonal: within a level), on the
    metric's fixed scale, with the values in the cells."""
    names = list(matrices)
    fig, axes = _panels(len(names), 3.6, 3.4)
    ticks = [level_text(level) for level in levels]
    for ax, name in zip(axes, names):
        low, high = METRICS[name].scale
        image = ax.imshow(matrices[name], cmap="RdBu_r" if low < 0 else "viridis", vmin=low, vmax=high,
                          origin="lower")
        for (i, j), value in np.ndenumerate(matrices[name]):
            if np.isfinite(value):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6,
                        color="black" if low < 0 or value > low + 0.6 * (high - low) else "white")
        ax.set_xticks(range(len(levels)), ticks, rotation=90, fontsize=6)
        ax.set_yticks(range(len(levels)), ticks, fontsize=6)
        ax.set_title(METRICS[name].label, fontsize=8)
        ax.set_xlabel(key, fontsize=7)
        fig.colorbar(image, ax=ax, fraction=0.046)
    save(fig, path)
