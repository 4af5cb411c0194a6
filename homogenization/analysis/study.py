"""The homogenization analysis of a set of comparable runs: pairs, groups and the headline table.

Uncertainty comes from the multi-bootstrap (Sellam et al. 2022): each replicate resamples the
seeds of every group (runs drawn with replacement; a pair of two draws of the same run is never
used) and, jointly, the test items. Items are dealt at random into ``blocks`` blocks and replicates
resample blocks; for statistics that are means over units this has the variance of resampling the
items themselves, and it lets CKA be re-weighted without recomputing any N x H product. Every
statistic is therefore computed from per-block sums, once, and each replicate is a re-weighting.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from homogenization.analysis.agreement import co_errors, error_pair_stats, label_agreement
from homogenization.analysis.attribution import attribute, compare, confounds, side_estimates
from homogenization.analysis.bootstrap import interval, level_draws, pair_mean, seed_draws_within
from homogenization.analysis.design import Factor, design_table, other_factors, read_factors
from homogenization.analysis.discovery import Run
from homogenization.analysis.epochs import common_epochs, over_training, systemic_since
from homogenization.analysis.layers import LayerAnalysis, layer_analysis
from homogenization.analysis.measures import MEASURES, pairwise
from homogenization.analysis.nested import Nesting, nested_headline
from homogenization.analysis.outcomes import Outcomes, load_outcomes, load_representations, task_metric
from homogenization.analysis.similarity import BlockCKA, ReplicatedKNN
from homogenization.analysis.systemic import systemic_failure
from homogenization.analysis.units import per_type_outcomes, unit_table
from homogenization.conf import config_file
from homogenization.core.errors import UserError
from homogenization.core.run_record import read_texts

log = logging.getLogger(__name__)

HEADLINE = ("error_consistency", "homogenization_ratio", "linear_cka", "debiased_cka", "mutual_knn")
PAIR_COLUMNS = ("agreement", "cohen_kappa", "error_consistency", "both_wrong", "error_jaccard",
                "homogenization_ratio", "linear_cka", "debiased_cka", "mutual_knn")


SIMILARITY = ("linear_cka", "debiased_cka", "mutual_knn")
POOLED = "all (pooled)"   # the group-table row of every run together, whatever its group


def degenerate_representations(runs: list[Run], representations: list[np.ndarray]) -> np.ndarray:
    """bool [R]: runs whose test representations are not all finite, or identical for every unit.
    Their representation similarities are undefined (NaN), never a number; one warning each."""
    flags = []
    for run, values in zip(runs, representations):
        finite = bool(np.isfinite(values).all())
        constant = finite and bool((values.max(axis=0) - values.min(axis=0)).max(initial=0) == 0)
        if not finite or constant:
            state = "not finite" if not finite else "the same for every unit"
            log.warning("%s: its test representations are %s; every representation similarity of this "
                        "run is undefined (NaN)", run.name, state)
        flags.append(not finite or constant)
    return np.array(flags, dtype=bool)


DEFAULTS_FILE = config_file("analysis", "default.yaml")
_DEFAULTS = OmegaConf.create(DEFAULTS_FILE.read_text())


@dataclass
class Settings:
    """The analysis's settings; their defaults are conf/analysis/default.yaml's, the one place they
    are set (scripts/analyze.py and the end-of-sweep report compose that file too)."""

    unit: str = _DEFAULTS.unit               # token tasks: entity | word
    knn_k: int = _DEFAULTS.knn_k
    knn_max_units: int = _DEFAULTS.knn_max_units
    knn_bootstrap: int = _DEFAULTS.knn_bootstrap
    bootstrap: int = _DEFAULTS.bootstrap
    blocks: int = _DEFAULTS.blocks
    seed: int = _DEFAULTS.seed
    measures: list[str] = field(default_factory=lambda: list(_DEFAULTS.measures))
    nest: str | None = _DEFAULTS.nest        # a group_by key nested in the others (backbone)
    rsa_max_units: int = _DEFAULTS.rsa_max_units
    factors: list[str] | None = field(default_factory=lambda: _DEFAULTS.factors)   # None: every varying key
    pair_weighting: bool = _DEFAULTS.pair_weighting

    def __post_init__(self) -> None:
        self.measures = [self.measures] if isinstance(self.measures, str) else list(self.measures)
        if self.factors is not None:
            self.factors = [self.factors] if isinstance(self.factors, str) else list(self.factors)
        unknown = [name for name in self.measures if name not in MEASURES]
        if unknown:
            raise UserError(f"analysis.measures: {', '.join(unknown)} unknown; choose from "
                            f"{', '.join(MEASURES)} (e.g. measures=[procrustes,jsd]).")


@dataclass
class Analysis:
    runs: list[Run]
    groups: list[str]
    outcomes: Outcomes
    settings: Settings
    pairs: pd.DataFrame
    group_table: pd.DataFrame
    k_histograms: pd.DataFrame
    headline: dict
    run_table: pd.DataFrame
    matrices: dict[str, np.ndarray] = field(default_factory=dict)
    layers: LayerAnalysis | None = None                               # runs with record.layers
    nested: dict | None = None                                        # analysis.nest
    epochs: pd.DataFrame = field(default_factory=pd.DataFrame)        # runs with record.every_epoch
    units: pd.DataFrame = field(default_factory=pd.DataFrame)          # units.csv
    design: pd.DataFrame = field(default_factory=pd.DataFrame)         # design.csv: factors and levels
    factors: pd.DataFrame = field(default_factory=pd.DataFrame)        # factors.csv: attribution
    confounds: list[dict] = field(default_factory=list)                # per headline metric name
    matched_on: list[str] = field(default_factory=list)
    dropped_within: int = 0
    entity_types: pd.DataFrame = field(default_factory=pd.DataFrame)   # token tasks, entity units


def block_sums(values: np.ndarray, blocks: np.ndarray, n_blocks: int) -> np.ndarray:
    """Sum ``values`` [..., N] over the units of each block: [..., M]."""
    return values.astype(np.float64) @ np.eye(n_blocks)[blocks]


class BlockStatistics:
    """Per-block sums from which every pairwise statistic is computed under block weights."""

    def __init__(self, runs: list[Run], outcomes: Outcomes, settings: Settings, split: str = "test",
                 with_knn: bool = True):
        rng = np.random.default_rng(settings.seed)
        self.n_blocks = min(settings.blocks, outcomes.n_items)
        item_block = rng.permutation(outcomes.n_items) % self.n_blocks
        unit_blocks = item_block[outcomes.unit_items]
        row_blocks = item_block[outcomes.row_items]
        self.row_blocks = row_blocks
        self.units = np.bincount(unit_blocks, minlength=self.n_blocks).astype(np.float64)
        self.errors = block_sums(outcomes.errors, unit_blocks, self.n_blocks)            # [R, M]
        self.co_errors = co_errors(outcomes.errors, unit_blocks, self.n_blocks)          # [R, R, M]
        self.task_counts = block_sums(outcomes.task_counts.transpose(0, 2, 1), item_block,
                                      self.n_blocks).transpose(0, 2, 1)                  # [R, M, c]

        representations = load_representations(runs, len(outcomes.row_items), split)
        self.degenerate = degenerate_representations(runs, representations)
        representations = [np.zeros_like(r) if bad else r for r, bad in zip(representations, self.degenerate)]
        self.representations = representations
        self.cka = BlockCKA(representations, row_blocks, self.n_blocks)
        rows = len(row_blocks)
        knn_rows = np.sort(rng.choice(rows, size=min(rows, settings.knn_max_units), replace=False))
        k = min(settings.knn_k, len(knn_rows) - 1)
        self.knn = ReplicatedKNN([r[knn_rows] for r in representations], row_blocks[knn_rows], k) \
            if with_knn else None
        self.knn_bootstrap = settings.knn_bootstrap

    def pair_metrics(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """The headline pairwise metrics under block weights [B, M]: each [B, R, R]."""
        units = weights @ self.units
        error_rate = (weights @ self.errors.T) / units[:, None]
        both_wrong = np.einsum("abm,km->kab", self.co_errors, weights) / units[:, None, None]
        metrics = error_pair_stats(error_rate, both_wrong)
        metrics["linear_cka"] = self.cka.cka(weights)
        metrics["debiased_cka"] = self.cka.debiased_cka(weights)
        # The first knn_bootstrap replicates find neighbours again (the costly part); the rest NaN.
        metrics["mutual_knn"] = np.full((len(weights), *metrics["linear_cka"].shape[1:]), np.nan)
        replicated = min(len(weights), self.knn_bootstrap)
        if self.knn is not None:
            metrics["mutual_knn"][:replicated] = self.knn.overlap(weights[:replicated])
        for name in SIMILARITY:
            metrics[name] = self.undefined_for_degenerate(metrics[name])
        return metrics

    def undefined_for_degenerate(self, values: np.ndarray) -> np.ndarray:
        """NaN for every pair [.., R, R] involving a run whose representations are degenerate."""
        values = values.copy()
        values[..., self.degenerate, :] = np.nan
        values[..., :, self.degenerate] = np.nan
        return values

    def run_metric(self, weights: np.ndarray) -> np.ndarray:
        """Task metric of every run under block weights [B, M]: [B, R]."""
        return task_metric(np.einsum("rmc,km->krc", self.task_counts, weights))


def centred_on(replicates: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Replicates [B, R, R] shifted so that their mean is the point estimate [R, R], pair by pair.

    For mutual k-NN: a replicate's neighbours are found among the ~63% distinct units it drew, a
    sparser sample than the test set, which moves every replicate the same way (by about 3 of
    their standard deviations in our simulations); the spread is right, the centre is not, and
    percentile intervals of uncentred replicates under-cover (benchmarks/coverage.py)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)      # pairs undefined in every replicate
        shift = np.nanmean(replicates, axis=0) - point
    return replicates - np.nan_to_num(shift)


def analyze(runs: list[Run], groups: list[str], settings: Settings,
            nesting: Nesting | None = None) -> Analysis:
    """All tables of the report for ``runs`` (comparable, with ``group`` set, sorted by group);
    with ``nesting``, also the nested headline (within / across backbones / across recipes)."""
    started = time.monotonic()
    log.info("analysis: reading the outcomes and representations of %d runs", len(runs))
    outcomes = load_outcomes(runs, settings.unit)
    stats = BlockStatistics(runs, outcomes, settings)
    log.info("analysis: %d pairs x %d bootstrap replicates (mutual k-NN: %d replicates over %d units) "
             "[%.0f s]", len(runs) * (len(runs) - 1) // 2, settings.bootstrap, settings.knn_bootstrap,
             min(len(outcomes.row_items), settings.knn_max_units), time.monotonic() - started)
    group_index = np.array([groups.index(run.group) for run in runs])
    off_diagonal = ~np.eye(len(runs), dtype=bool)

    ones = np.ones((1, stats.n_blocks))
    point = {name: values[0] for name, values in stats.pair_metrics(ones).items()}
    point["agreement"], point["cohen_kappa"] = label_agreement(outcomes.preds, len(outcomes.labels))
    run_metric = stats.run_metric(ones)[0]

    rng = np.random.default_rng(settings.seed + 1)
    block_draws = rng.multinomial(stats.n_blocks, np.full(stats.n_blocks, 1 / stats.n_blocks),
                                  size=settings.bootstrap).astype(np.float64)
    seed_draws = seed_draws_within(group_index, settings.bootstrap, rng)
    replicated = stats.pair_metrics(block_draws)
    replicated["mutual_knn"] = centred_on(replicated["mutual_knn"], point["mutual_knn"])
    pair_draws = seed_draws[:, :, None] * seed_draws[:, None, :]
    replicated_metric = stats.run_metric(block_draws)

    measured = pairwise(settings.measures, stats.representations, stats.degenerate, outcomes.probs,
                        outcomes.preds, settings.rsa_max_units, settings.seed)
    log.info("design: reading the factors of %d runs", len(runs))
    factors = read_factors(runs, settings.factors)
    others = other_factors(factors, group_index)
    equal_groups = not settings.pair_weighting
    everyone = off_diagonal[None].astype(float)
    matched = (compare(everyone, group_index, others, equal_groups),
               compare(pair_draws, group_index, others, equal_groups))
    raw = compare(everyone, group_index, [], equal_groups), compare(pair_draws, group_index, [], equal_groups)
    headline = {}
    for name in HEADLINE:
        entry = side_estimates(point[name], replicated[name], *matched)
        entry.update({f"raw_{key}": value for key, value in
                      side_estimates(point[name], replicated[name], *raw).items()})
        headline[name] = entry
    grouping = Factor(["same group"], group_index, list(groups))
    log.info("attribution: %d factors, %d metrics, %d replicates", len(others) + 1, len(HEADLINE),
             settings.bootstrap)
    # Crossed factors: resample the levels of every factor (not runs within groups), jointly with
    # the test blocks of ``replicated``.
    run_draws = level_draws([f.levels for f in (grouping, *others)], settings.bootstrap,
                            np.random.default_rng(settings.seed + 3))
    attribution = attribute(point, replicated, run_draws[:, :, None] * run_draws[:, None, :],
                            [grouping, *others], list(HEADLINE))
    confounded = {name: confounds(point[name], group_index, others) for name in HEADLINE}

    upper = np.triu_indices(len(runs), k=1)
    pairs = pd.DataFrame({
        "run_a": [runs[a].name for a in upper[0]], "run_b": [runs[b].name for b in upper[1]],
        "group_a": [runs[a].group for a in upper[0]], "group_b": [runs[b].group for b in upper[1]],
        **{name: point[name][upper] for name in PAIR_COLUMNS},
        **{name: values[upper] for name, values in measured.items()},
    })

    rows, histograms = [], []
    for label, members in [(g, group_index == i) for i, g in enumerate(groups)] + [(POOLED, None)]:
        members = np.ones(len(runs), bool) if members is None else members
        draws = seed_draws * members
        with np.errstate(invalid="ignore", divide="ignore"):
            metric_draws = (replicated_metric * draws).sum(1) / draws.sum(1)
        pair_mask = members[:, None] & members[None, :] & off_diagonal
        systemic = systemic_failure(outcomes.errors[members])
        k_observed, k_independent = systemic.pop("k_observed"), systemic.pop("k_independent")
        histograms.extend({"group": label, "k": k, "observed": o, "independent": e}
                          for k, (o, e) in enumerate(zip(k_observed, k_independent)))
        values = run_metric[members]
        pairs_total = int(pair_mask.sum() // 2)
        undefined = {name: int((pair_mask & np.isnan(point[name])).sum() // 2) for name in PAIR_COLUMNS}
        rows.append({
            "group": label, "runs": int(members.sum()), "metric": outcomes.metric_name,
            "metric_mean": float(values.mean()),
            "metric_std": float(values.std(ddof=1)) if len(values) > 1 else float("nan"),
            **dict(zip(("metric_ci_low", "metric_ci_high"), interval(metric_draws))),
            **{name: float(pair_mean(point[name], pair_mask.astype(float))) for name in PAIR_COLUMNS},
            **systemic,
            **{name: float(pair_mean(found, pair_mask.astype(float))) for name, found in measured.items()},
            "pairs": pairs_total,
            "undefined": "; ".join(f"{name} undefined for {count} of {pairs_total} pairs"
                                   for name, count in undefined.items() if count),
        })
    log.info("analysis: per-unit tables, layers and epochs where recorded [%.0f s]",
             time.monotonic() - started)
    order = np.argsort(group_index, kind="stable")
    matrices = {name: point[name][np.ix_(order, order)] for name in ("error_consistency", "linear_cka")}
    run_table = run_flags(runs, outcomes, run_metric, replicated_metric)
    run_groups = [run.group for run in runs]
    units = unit_table(outcomes, run_groups, groups, read_texts(runs[0].path))
    epoch_curves = pd.DataFrame()
    epochs = common_epochs(runs)
    if epochs:
        epoch_curves, errors_by_epoch = over_training(
            runs, groups, settings.unit, epochs,
            lambda found, split: BlockStatistics(runs, found, settings, split, with_knn=False),
            block_draws, seed_draws)
        units["systemic_since_epoch"] = systemic_since(errors_by_epoch, epochs)
    return Analysis(runs, groups, outcomes, settings, pairs, pd.DataFrame(rows), pd.DataFrame(histograms),
                    headline, run_table, matrices,
                    layers=layer_analysis(runs, groups, len(outcomes.row_items), stats.row_blocks,
                                          stats.n_blocks, block_draws, seed_draws),
                    nested=None if nesting is None else nested_headline(
                        point, replicated, nesting, HEADLINE, settings.bootstrap,
                        np.random.default_rng(settings.seed + 2)),
                    epochs=epoch_curves, units=units,
                    entity_types=per_type_outcomes(outcomes, run_groups),
                    design=design_table(factors, group_index), factors=attribution, confounds=confounded,
                    matched_on=matched[0].matched_on, dropped_within=matched[0].dropped_within)


def chance_level(outcomes: Outcomes) -> float:
    """The task metric a model reaches without learning: the majority-class rate for accuracy;
    0 for entity F1 (predicting the majority tag, O, finds no entity)."""
    if outcomes.metric_name != "accuracy":
        return 0.0
    gold = outcomes.gold
    return float(np.bincount(gold).max() / len(gold))


def run_flags(runs: list[Run], outcomes: Outcomes, run_metric: np.ndarray,
              replicated_metric: np.ndarray) -> pd.DataFrame:
    """One row per run: its task metric with a test-item bootstrap interval, the chance level, and
    flags: ``untrained`` (0 training steps, a baseline) and ``near chance`` (the interval reaches
    the chance level, so its agreement with other runs may be trivial)."""
    chance = chance_level(outcomes)
    rows = []
    for index, run in enumerate(runs):
        low, high = interval(replicated_metric[:, index])
        flags = [flag for flag, on in (("untrained (0 steps)", run.record.untrained),
                                       ("near chance", not low > chance)) if on]
        rows.append({"run": run.name, "group": run.group, "metric": outcomes.metric_name,
                     "value": float(run_metric[index]), "ci_low": low, "ci_high": high,
                     "chance": chance, "flags": ", ".join(flags)})
    for row in rows:
        if row["flags"]:
            log.warning("%s: %s (%s %.3f [%.3f, %.3f], chance %.3f)", row["run"], row["flags"], row["metric"],
                        row["value"], row["ci_low"], row["ci_high"], chance)
    return pd.DataFrame(rows)
