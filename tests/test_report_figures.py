"""The report read at a glance: a headline figure, the task metric with its runs and chance,
failure histograms on a linear scale with one legend, heatmaps on a fixed stated scale with their
values, and a paragraph saying what the runs are."""

import numpy as np
import pandas as pd
import pytest

from homogenization.analysis.make_report import make_report
from homogenization.analysis.report import figures
from homogenization.analysis.runs.synthetic_runs import noisy_copies, write_run
from homogenization.analysis.study import Settings

N = 300


@pytest.fixture
def captured(monkeypatch):
    """The figures the report draws, by file name, instead of PNGs only."""
    found = {}
    original = figures.save

    def keep(fig, path, tight=True):
        found[path.name] = fig
        original(fig, path, tight)
    monkeypatch.setattr(figures, "save", keep)
    return found


def study(tmp_path, runs=3):
    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, N)
    for group in "ab":
        for seed, pred in zip(range(1, runs + 1), noisy_copies(label, 0.25, runs, rng)):
            write_run(tmp_path / "runs" / f"{group}{seed}", pred, label, rng.normal(size=(N, 8)), model=group,
                      seed=seed, config={"trainer": {"max_epochs": 2}})
    return make_report([str(tmp_path / "runs")], tmp_path / "report", ["model"], Settings(bootstrap=20))


def test_the_figures_read_at_a_glance(tmp_path, captured):
    analysis = study(tmp_path)
    heatmap = captured["error_consistency.png"].axes[0]
    assert heatmap.images[0].get_clim() == (-1.0, 1.0)                        # fixed, not auto-ranged
    assert len(heatmap.texts) == 6 * 5                                  # a value in each off-diagonal cell
    from matplotlib.colors import to_rgba
    image = heatmap.images[0]
    assert np.ma.is_masked(image.get_array()[0, 0]) and image.get_cmap().get_bad() == pytest.approx(
        to_rgba(figures.NO_PAIR))                                       # the diagonal: grey, no pair
    white = to_rgba("white")
    separators = [line for line in heatmap.lines if line.get_color() != white]
    assert len(separators) == 2 and len(heatmap.lines) == 2             # between the two groups, visible
    assert image.get_cmap()(0.5)[:3] == pytest.approx((0.97, 0.97, 0.97), abs=0.03)   # 0 is white...
    assert to_rgba(separators[0].get_color())[:3] == pytest.approx(to_rgba(figures.SEPARATOR)[:3])
    assert captured["linear_cka.png"].axes[0].images[0].get_clim() == (0.0, 1.0)

    histogram = captured["k_histogram.png"]
    assert all(ax.get_yscale() == "linear" for ax in histogram.axes)
    assert len(histogram.legends) == 1 and not any(ax.get_legend() for ax in histogram.axes)

    task = captured["task_metric.png"].axes[0]
    chance = float(pd.read_csv(tmp_path / "report" / "runs.csv")["chance"].iloc[0])
    assert task.get_ylim()[0] <= chance and any(np.allclose(line.get_ydata(), chance) for line in task.lines)
    assert [t.get_text() for t in task.get_xticklabels()] == ["a", "b"]          # not the pooled row
    from matplotlib.collections import PathCollection
    scattered = [c for c in task.collections if isinstance(c, PathCollection)]
    assert sum(len(c.get_offsets()) for c in scattered) == 6            # one point per run

    headline = captured["headline.png"]
    assert len(headline.axes) == len(analysis.headline)
    text = (tmp_path / "report" / "report.md").read_text()
    assert "![Headline" in text and "fixed scale" in text


def test_the_report_says_what_the_runs_are(tmp_path):
    study(tmp_path)
    text = (tmp_path / "report" / "report.md").read_text()
    assert "**The runs.**" in text
    assert "- **a**: 3 runs; data fake; epochs 1; seeds 1, 2, 3" in text
    units = pd.read_csv(tmp_path / "report" / "units.csv")
    qualifying = int((units.wrong_all * 2 >= units.runs).sum())
    assert f"{qualifying} of {N} examples are failed by at least half of the 6 runs" in text


def test_the_heatmap_of_many_runs_stays_legible_and_small(tmp_path, captured):
    study(tmp_path, runs=25)                                 # 50 runs: above RUN_NAMES_UP_TO
    figure = captured["error_consistency.png"]
    assert max(figure.get_size_inches()) <= figures.HEATMAP_INCHES_AT_MOST + 1   # not 0.35 in per run
    heatmap = figure.axes[0]
    assert [t.get_text() for t in heatmap.get_xticklabels()] == ["a", "b"]    # a tick per group
    assert heatmap.get_xlabel() == "50 runs, ordered by group" and not heatmap.texts
