"""The report's figures (matplotlib, written as PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

TITLES = {"error_consistency": "Error consistency (kappa_err)", "linear_cka": "Linear CKA"}


def pair_heatmap(matrix: np.ndarray, names: list[str], groups: list[str], title: str, path: Path) -> None:
    """Runs x runs heatmap, runs ordered by group, with lines between groups."""
    matrix = np.where(np.eye(len(matrix), dtype=bool), np.nan, matrix)   # self-pairs are 1 by definition
    size = max(4.0, 0.35 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(matrix, cmap="viridis")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    boundaries = [i + 0.5 for i in range(len(groups) - 1) if groups[i] != groups[i + 1]]
    for boundary in boundaries:
        ax.axhline(boundary, color="white", linewidth=1.5)
        ax.axvline(boundary, color="white", linewidth=1.5)
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def k_histogram(histograms: pd.DataFrame, path: Path) -> None:
    """Fraction of units failed by exactly k runs, observed vs independent errors, per group."""
    labels = list(dict.fromkeys(histograms["group"]))
    fig, axes = plt.subplots(1, len(labels), figsize=(3.6 * len(labels), 3.2), squeeze=False)
    for ax, label in zip(axes[0], labels):
        part = histograms[histograms["group"] == label]
        ax.bar(part["k"] - 0.2, part["observed"], width=0.4, label="observed")
        ax.bar(part["k"] + 0.2, part["independent"], width=0.4, label="independent errors")
        ax.set_title(label)
        ax.set_xlabel("k = runs that fail the unit")
        ax.set_yscale("log")
    axes[0][0].set_ylabel("fraction of units")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def task_metric(groups: pd.DataFrame, path: Path) -> None:
    """Mean task metric per group with its 95% multi-bootstrap interval."""
    fig, ax = plt.subplots(figsize=(1.2 * len(groups) + 2, 3.2))
    low = groups["metric_mean"] - groups["metric_ci_low"]
    high = groups["metric_ci_high"] - groups["metric_mean"]
    ax.errorbar(range(len(groups)), groups["metric_mean"], yerr=[low, high], fmt="o", capsize=4)
    ax.set_xticks(range(len(groups)), groups["group"])
    ax.set_ylabel(groups["metric"].iloc[0])
    ax.set_title("Task metric (mean over seeds, 95% multi-bootstrap interval)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
