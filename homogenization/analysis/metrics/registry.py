"""The registry of pair metrics: each declared once, read by the analysis, the report, the figures
and W&B.

A metric has a name (its column in pairs.csv and groups.csv), a label and a one-line definition
(the report), a point function (``stats`` -> [R, R]) and, when it is a function of per-block sums,
a replicate function (``stats``, block weights [B, M] -> [B, R, R]) that gives it a multi-bootstrap
interval; without one it is a point estimate, and the report says so. ``headline`` puts it in the
headline and the attribution, ``heatmap`` draws its runs x runs figure, ``optional`` computes it
only when ``analysis.measures`` lists it, ``applies`` says whether it means anything for a study's
outcomes (not computed, and not reported, where it does not), ``adjusts_for_accuracy`` whether it
is measured against the chance agreement of two runs with these accuracies (the trend analysis
holds accuracy fixed for the metrics that are not). ``stats`` is a
``block_statistics.BlockStatistics``.

Adding a metric: ``register(Metric(...))`` here (or from your own module before the analysis
runs), with its functions; docs/architecture.md ("Extending: an analysis measure").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from homogenization.analysis.metrics import measures

Point = Callable[..., np.ndarray]
# Replicates of a metric are held as float32 [B, R, R] (an interval needs no more digits) and
# computed this many at a time.
REPLICATES_PER_CHUNK = 100
Replicate = Callable[..., np.ndarray]


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    definition: str
    point: Point
    replicate: Replicate | None = None
    headline: bool = False
    heatmap: bool = False
    optional: bool = False
    applies: Callable[..., bool] = lambda outcomes: True   # outcomes.Outcomes -> does it mean anything here
    scale: tuple[float, float] = (0.0, 1.0)   # the fixed colour scale of its heatmap (never auto-ranged)
    # already measured against what two runs of these accuracies give by chance (κ_err, CAPA, ...);
    # a trend of a metric that is not is also given with the pairs' accuracy held fixed
    adjusts_for_accuracy: bool = False
    # also followed over training, epoch by epoch (runs trained with record.every_epoch); needs a
    # replicate function (its interval)
    per_epoch: bool = False
    # a representation measure computed pair by pair, streamed (measures.py): its function of a
    # prepared ``measures.Pair``; the point function then reads it from the block statistics
    pair_function: Callable | None = None

    def __post_init__(self) -> None:
        if not callable(self.point):
            raise TypeError(f"metric {self.name}: its point function is missing (point=...)")
        if self.replicate is not None and not callable(self.replicate):
            raise TypeError(f"metric {self.name}: replicate must be a function or None (no interval)")

    def values(self, stats, weights: np.ndarray | None = None) -> np.ndarray:
        """[R, R] point values, or [B, R, R] float32 under block ``weights`` (NaN without a
        replicate), computed ``REPLICATES_PER_CHUNK`` replicates at a time so that the float64
        intermediates of a replicate function stay small whatever B is."""
        if weights is None:
            return self.point(stats)
        found = np.full((len(weights), *stats.degenerate.shape * 2), np.nan, dtype=np.float32)
        if self.replicate is not None:
            for start in range(0, len(weights), REPLICATES_PER_CHUNK):
                found[start:start + REPLICATES_PER_CHUNK] = self.replicate(
                    stats, weights[start:start + REPLICATES_PER_CHUNK])
        return found


METRICS: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    METRICS[metric.name] = metric
    return metric


def blockwise(replicate: Replicate) -> tuple[Point, Replicate]:
    """(point, replicate) of a block-weighted statistic: the point is all blocks weighted once."""
    return (lambda stats: replicate(stats, np.ones((1, stats.n_blocks)))[0]), replicate


def _error(name: str) -> tuple[Point, Replicate]:
    return blockwise(lambda stats, weights: stats.error_stats(weights)[name])


def headline() -> list[str]:
    return [m.name for m in METRICS.values() if m.headline]


def computed(measures: list[str], outcomes=None) -> list[Metric]:
    """The metrics of an analysis: every non-optional one and the optional ones asked for, that
    apply to these ``outcomes`` (e.g. "same wrong label" needs three labels or more)."""
    return [m for m in METRICS.values() if (not m.optional or m.name in measures)
            and (outcomes is None or m.applies(outcomes))]


def optional() -> list[str]:
    return [m.name for m in METRICS.values() if m.optional]


register(
    Metric(
        "agreement",
        "agreement",
        "the fraction of units the two runs predict the same label for.",
        *blockwise(lambda stats, weights: stats.agreement(weights)),
    )
)
register(
    Metric(
        "cohen_kappa",
        "Cohen's κ",
        "agreement beyond what each run's label distribution gives by chance.",
        *blockwise(lambda stats, weights: stats.cohen_kappa(weights)),
        adjusts_for_accuracy=True,
    )
)
register(
    Metric(
        "error_consistency",
        "error consistency (κ_err)",
        "κ_err (Geirhos et al. 2020): agreement on which units are right or wrong, beyond what two runs "
        "with these accuracies agree by chance; 0 = independent errors, 1 = identical.",
        *_error("error_consistency"),
        headline=True,
        heatmap=True,
        per_epoch=True,
        scale=(-1.0, 1.0),
        adjusts_for_accuracy=True,
    )
)
register(
    Metric("both_wrong", "both wrong", "the fraction of units both runs get wrong.", *_error("both_wrong"))
)
register(
    Metric(
        "error_jaccard",
        "error Jaccard",
        "the overlap of the two runs' error sets (intersection over union).",
        *_error("error_jaccard"),
    )
)
register(
    Metric(
        "label_gap",
        "label-rate gap",
        "how differently the two runs spread their predictions over the labels: the total variation "
        "distance of their predicted label distributions (0 = the same class bias). Agreement that falls "
        "as it grows is shared class bias (the report says when).",
        *blockwise(lambda stats, weights: stats.label_gap(weights)),
    )
)
register(
    Metric(
        "homogenization_ratio",
        "homogenization ratio",
        "P(both wrong) / (P(a wrong) P(b wrong)) (Bommasani et al. 2022): 1 = independent errors, 2 = "
        "the pair fails together twice as often as chance.",
        *_error("homogenization_ratio"),
        headline=True,
        scale=(0.0, 4.0),
        adjusts_for_accuracy=True,
    )
)
register(
    Metric(
        "capa",
        "CAPA (κ_p)",
        "chance-adjusted probabilistic agreement κ_p (Goel et al. 2025): how often the two runs' "
        "predicted distributions give the same answer, beyond two runs with these accuracies whose "
        "wrong answers are spread over the other labels; 0 = chance, 1 = identical. Per prediction row.",
        *blockwise(lambda stats, weights: stats.capa(weights)),
        headline=True,
        adjusts_for_accuracy=True,
    )
)
register(
    Metric(
        "same_wrong",
        "same wrong label",
        "of the prediction rows both runs get wrong, the fraction where they give the same wrong "
        "label (Kim et al. 2025). Its chance depends on the runs' marginals: compare it with *same wrong "
        "label by chance* beside it (1/(labels − 1) only when wrong answers are uniform). Computed for "
        "three labels or more.",
        *blockwise(lambda stats, weights: stats.same_wrong(weights)),
        headline=True,
        applies=lambda outcomes: len(outcomes.labels) > 2,
        adjusts_for_accuracy=True,
    )
)
register(
    Metric(
        "same_wrong_chance",
        "same wrong label by chance",
        "what *same wrong label* would be if the two runs erred independently, each with its own "
        "distribution of wrong labels given the gold label (from the data); a point estimate.",
        point=lambda stats: stats.same_wrong_chance(),
        applies=lambda outcomes: len(outcomes.labels) > 2,
    )
)
register(
    Metric(
        "linear_cka",
        "linear CKA",
        "linear CKA of the test representations (Kornblith et al. 2019): "
        "1 = identical up to rotation and scale.",
        *blockwise(lambda stats, weights: stats.linear_cka(weights)),
        headline=True,
        heatmap=True,
        per_epoch=True,
    )
)
register(
    Metric(
        "debiased_cka",
        "debiased CKA",
        "linear CKA with HSIC's unbiased estimator (Song et al. 2012): "
        "plain CKA is biased upwards with few units; this removes that bias.",
        *blockwise(lambda stats, weights: stats.debiased_cka(weights)),
        headline=True,
    )
)
register(
    Metric(
        "mutual_knn",
        "mutual k-NN",
        "mutual k-NN (Huh et al. 2024): the fraction of each unit's k nearest neighbours the two runs share.",
        *blockwise(lambda stats, weights: stats.mutual_knn(weights)),
        headline=True,
    )
)
for _name, _label, _definition in (
    (
        "procrustes",
        "Procrustes distance (rad)",
        "angular Procrustes shape distance (Williams et al. 2021): "
        "0 = the same up to rotation, reflection and scale.",
    ),
    ("svcca", "SVCCA", "mean canonical correlation of the 99%-variance subspaces (Raghu et al. 2017)."),
    (
        "pwcca",
        "PWCCA",
        "canonical correlations weighted by the units they account for (Morcos et al. "
        "2018), both directions averaged.",
    ),
    (
        "rsa",
        "RSA (Spearman)",
        "Spearman correlation of the two runs' unit dissimilarity matrices, on a "
        "subsample of analysis.rsa_max_units units.",
    ),
):
    register(
        Metric(
            _name, _label, _definition, point=lambda stats, _name=_name: stats.measure(_name), optional=True,
            pair_function=getattr(measures, _name),
        )
    )
register(
    Metric(
        "jsd",
        "JS divergence",
        "mean Jensen-Shannon divergence (base 2) of the two runs' predicted distributions: 0 = identical.",
        *blockwise(lambda stats, weights: stats.jsd(weights)),
        optional=True,
    )
)
register(
    Metric(
        "disagreement",
        "disagreement",
        "the fraction of prediction rows the two runs predict differently.",
        *blockwise(lambda stats, weights: 1 - stats.agreement(weights)),
        optional=True,
    )
)
