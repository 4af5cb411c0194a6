"""The homogenization analysis of a set of comparable runs: pairs, groups and the headline table.

Uncertainty comes from the multi-bootstrap (Sellam et al. 2022): each replicate resamples the
seeds of every group (runs drawn with replacement; a pair of two draws of the same run is never
used) and, jointly, the test items. Items are dealt at random into ``blocks`` blocks and replicates
resample blocks; for statistics that are means over units this has the variance of resampling the
items themselves, and it lets CKA be re-weighted without recomputing any N x H product. Every
statistic is therefore computed from per-block sums, once, and each replicate is a re-weighting.
"""

from __future__ import annotations

import copy
import functools
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from homogenization.analysis.breakdowns.backbone_drift import BackboneDrift, backbone_drift
from homogenization.analysis.breakdowns.epochs import common_epochs, over_training, systemic_since
from homogenization.analysis.breakdowns.layers import LayerAnalysis, layer_analysis
from homogenization.analysis.breakdowns.systemic import systemic_failure
from homogenization.analysis.breakdowns.units import per_type_outcomes, unit_table
from homogenization.analysis.design.attribution import (
    Comparison,
    attribute,
    compare,
    confounds,
    side_estimates,
)
from homogenization.analysis.design.nested import Nesting, nested_headline
from homogenization.analysis.design.pretraining import pretraining_comparison
from homogenization.analysis.design.read_design import Factor, design_table, other_factors, read_factors
from homogenization.analysis.design.trends import TaskMetric, Trend, level_values, trend_analysis
from homogenization.analysis.metrics.block_statistics import BlockStatistics
from homogenization.analysis.metrics.bootstrap import interval, level_draws, pair_mean, seed_draws_within
from homogenization.analysis.metrics.registry import Metric, computed, optional
from homogenization.analysis.plugins import load_plugins
from homogenization.analysis.random_streams import stream
from homogenization.analysis.runs.discovery import Run
from homogenization.analysis.runs.outcomes import Outcomes, load_outcomes
from homogenization.conf import config_file
from homogenization.core.errors import UserError
from homogenization.core.run_record import read_texts

log = logging.getLogger(__name__)

POOLED = "all (pooled)"   # the group-table row of every run together, whatever its group


DEFAULTS_FILE = config_file("analysis", "default.yaml")


@functools.cache
def _defaults() -> DictConfig:
    """conf/analysis/default.yaml, read when the first Settings is made (not at import)."""
    return OmegaConf.create(DEFAULTS_FILE.read_text())


def _default(name: str):
    """The default of one setting, as a dataclass field (a copy of lists and dicts)."""
    return field(default_factory=lambda: copy.deepcopy(OmegaConf.to_container(_defaults())[name]))


@dataclass
class Settings:
    """The analysis's settings; their defaults are conf/analysis/default.yaml's, the one place they
    are set (scripts/analyze.py and the end-of-sweep report compose that file too)."""

    unit: str = _default("unit")               # token tasks: entity | word
    knn_k: int = _default("knn_k")
    knn_max_units: int = _default("knn_max_units")
    knn_bootstrap: int = _default("knn_bootstrap")
    bootstrap: int = _default("bootstrap")
    blocks: int = _default("blocks")
    seed: int = _default("seed")
    measures: list[str] = _default("measures")
    plugins: list[str] = _default("plugins")   # imported first
    nest: str | None = _default("nest")        # a group_by key nested in the others (backbone)
    rsa_max_units: int = _default("rsa_max_units")
    factors: list[str] | None = _default("factors")   # None: every varying key
    pair_weighting: bool = _default("pair_weighting")
    trend: str | None = _default("trend")      # a numeric key: homogenization against it (design/trends.py)
    device: str = _default("device")           # auto | cpu | cuda: where the pairwise products run
    jobs: int = _default("jobs")               # CKA's pairwise work split into this many jobs (jobs.py)
    launcher: str = _default("launcher")       # local | slurm: where those jobs run
    slurm: dict | None = _default("slurm")   # their SLURM resources
    work_dir: str | None = _default("work_dir")   # CKA's Gram as a file, the jobs' files; None: in memory

    def __post_init__(self) -> None:
        self.plugins = [self.plugins] if isinstance(self.plugins, str) else [str(p) for p in self.plugins]
        load_plugins(self.plugins)   # before the measures are checked: a plugin may register one
        self._check_numbers()
        if not isinstance(self.pair_weighting, bool):   # "off", "no", 0: never read as true
            raise UserError(f"analysis.pair_weighting={self.pair_weighting!r}: give true or false")
        if self.trend is not None and not isinstance(self.trend, str):
            raise UserError(f"analysis.trend={self.trend!r}: name one numeric key, e.g. "
                            "trend=training.parameters")
        self.measures = [self.measures] if isinstance(self.measures, str) else list(self.measures)
        if self.slurm is not None:
            is_config = OmegaConf.is_config(self.slurm)
            self.slurm = OmegaConf.to_container(self.slurm) if is_config else dict(self.slurm)
        if self.factors is not None:
            self.factors = [self.factors] if isinstance(self.factors, str) else list(self.factors)
        unknown = [name for name in self.measures if name not in optional()]
        if unknown:
            raise UserError(f"analysis.measures: {', '.join(unknown)} unknown; choose from "
                            f"{', '.join(optional())} (e.g. measures=[procrustes,jsd]).")


    # (setting, smallest value, what it means): checked before any work, one line each
    _BOUNDS = (("bootstrap", 0, "replicates of the multi-bootstrap: 0 = no intervals, else at least 2"),
               ("knn_bootstrap", 0, "replicates in which mutual k-NN finds neighbours again, which "
                                    "calibrate its interval: 0 = no interval, else at least 2"),
               ("blocks", 2, "blocks of test items the bootstrap resamples"),
               ("knn_k", 1, "neighbours of mutual k-NN"),
               ("knn_max_units", 2, "units mutual k-NN is computed on"),
               ("rsa_max_units", 3, "units RSA is computed on"),
               ("seed", 0, "the analysis's own random seed"))

    def _check_numbers(self) -> None:
        for name, least, meaning in self._BOUNDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise UserError(f"analysis.{name}={value!r}: a whole number is needed ({meaning})")
            zero_or_two = name in ("bootstrap", "knn_bootstrap")
            if value < least or (zero_or_two and value == 1):
                least_text = "0 or at least 2" if zero_or_two else f"at least {least}"
                raise UserError(f"analysis.{name}={value}: must be {least_text} ({meaning})")
        if self.unit not in ("entity", "word"):
            raise UserError(f"analysis.unit={self.unit!r}: token tasks count errors per 'entity' or 'word'")
        if self.device not in ("auto", "cpu", "cuda"):
            raise UserError(f"analysis.device={self.device!r}: choose auto, cpu or cuda")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise UserError("analysis.device=cuda: torch sees no GPU on this machine; use device=auto or cpu")
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, (int, np.integer)) or self.jobs < 1:
            raise UserError(f"analysis.jobs={self.jobs!r}: a whole number, at least 1 (1 = in this process)")
        if self.launcher not in ("local", "slurm"):
            raise UserError(f"analysis.launcher={self.launcher!r}: choose local (processes here) or slurm")


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
    confounds: dict[str, list[dict]] = field(default_factory=dict)     # per headline metric
    matched_on: list[str] = field(default_factory=list)
    dropped_within: int = 0
    entity_types: pd.DataFrame = field(default_factory=pd.DataFrame)   # token tasks, entity units
    trend: Trend | None = None                                         # analysis.trend
    pretraining: pd.DataFrame = field(default_factory=pd.DataFrame)    # pretrained vs random-init arms
    backbone_drift: BackboneDrift | None = None                        # fine-tuned runs vs a probe arm


@dataclass
class Draws:
    """The multi-bootstrap's draws, shared by every table: block weights [B, M], runs drawn
    within their groups [B, R] and the pair weights they give [B, R, R]."""

    blocks: np.ndarray
    seeds: np.ndarray

    @property
    def pairs(self) -> np.ndarray:
        """float32 [B, R, R]: how often each pair is drawn (a product of small counts, exact)."""
        return self.pair_slices[:]

    @property
    def pair_slices(self) -> PairDraws:
        """The same, made only for the replicates sliced out (``[start:stop]``)."""
        return PairDraws(self.seeds)


@dataclass
class PairDraws:
    """How often each pair is drawn, [B, R, R] float32, made a slice of replicates at a time: code
    that works on chunks of replicates (``attribution.compare``) never holds the whole array."""

    seeds: np.ndarray    # [B, R]

    def __len__(self) -> int:
        return len(self.seeds)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.seeds), self.seeds.shape[1], self.seeds.shape[1])

    def __getitem__(self, replicates: slice) -> np.ndarray:
        seeds = self.seeds[replicates].astype(np.float32)
        return seeds[:, :, None] * seeds[:, None, :]


def analyze(runs: list[Run], groups: list[str], settings: Settings,
            nesting: Nesting | None = None) -> Analysis:
    """All tables of the report for ``runs`` (comparable, with ``group`` set, sorted by group);
    with ``nesting``, also the nested headline (within / across backbones / across recipes)."""
    started = time.monotonic()
    trend_values = level_values(runs, settings.trend) if settings.trend else None   # before any work
    log.info("analysis: reading the outcomes and representations of %d runs", len(runs))
    outcomes = load_outcomes(runs, settings.unit)
    group_index = np.array([groups.index(run.group) for run in runs])
    values = pair_values(runs, outcomes, group_index, settings)
    point, replicated, names = values.point, values.replicated, list(values.replicated)
    log.info("analysis: the design, the matched headline and the attribution [%.0f s]",
             time.monotonic() - started)
    factors = read_factors(runs, settings.factors)
    others = other_factors(factors, group_index)
    matched = matched_comparisons(group_index, others, values.draws, settings)
    headline = headline_table(point, replicated, matched, group_index, names, values.draws)
    matched_on, dropped_within = matched["matched"][0].matched_on, matched["matched"][0].dropped_within
    del matched     # four [B, R, R] weight arrays (1.4 GB at 300 runs), not needed past the headline
    group_table, histograms = group_tables(runs, groups, group_index, outcomes, point, values.metrics,
                                           values.run_metric, values.replicated_metric, values.draws)
    log.info("analysis: per-unit tables, layers, epochs and the trend where asked [%.0f s]",
             time.monotonic() - started)
    order = np.argsort(group_index, kind="stable")
    return Analysis(
        runs, groups, outcomes, settings, pair_table(runs, point, values.metrics), group_table, histograms,
        headline,
        run_flags(runs, outcomes, values.run_metric, values.replicated_metric),
        {m.name: point[m.name][np.ix_(order, order)] for m in values.metrics if m.heatmap},
        nested=None if nesting is None else nested_headline(
            point, replicated, nesting, tuple(names), settings.bootstrap, stream(settings.seed, "nested")),
        entity_types=per_type_outcomes(outcomes, [run.group for run in runs]),
        design=design_table(factors, group_index),
        factors=attribution_table(point, replicated, group_index, groups, others, settings, names),
        confounds={name: confounds(point[name], group_index, others) for name in names},
        matched_on=matched_on, dropped_within=dropped_within,
        pretraining=pretraining_comparison(runs, groups, group_index, point, replicated, values.draws.pairs,
                                           values.run_metric),
        **breakdowns(runs, groups, outcomes, values, settings, trend_values))


@dataclass
class PairValues:
    """Every computed metric's [R, R] point values, the headline metrics' [B, R, R] replicates,
    the task metric per run [R] and its replicates [B, R], and the draws they were made with."""

    stats: BlockStatistics
    draws: Draws
    metrics: list[Metric]
    point: dict[str, np.ndarray]
    replicated: dict[str, np.ndarray]
    run_metric: np.ndarray
    replicated_metric: np.ndarray


def pair_values(runs: list[Run], outcomes: Outcomes, group_index: np.ndarray,
                settings: Settings) -> PairValues:
    stats = BlockStatistics(runs, outcomes, settings)
    rng = stream(settings.seed, "replicates")
    draws = Draws(rng.multinomial(stats.n_blocks, np.full(stats.n_blocks, 1 / stats.n_blocks),
                                  size=settings.bootstrap).astype(np.float64),
                  seed_draws_within(group_index, settings.bootstrap, rng))
    log.info("analysis: %d pairs x %d bootstrap replicates (mutual k-NN: %d replicates over %d units)",
             len(runs) * (len(runs) - 1) // 2, settings.bootstrap, settings.knn_bootstrap,
             min(len(outcomes.row_items), settings.knn_max_units))
    metrics = computed(settings.measures, outcomes)
    point = {m.name: m.values(stats) for m in metrics}
    # Replicates only where an interval is reported (the headline, the attribution, the nested
    # comparison, the trend): each is [B, R, R], the analysis's largest arrays; none around no
    # estimate (CKA of a study without representations: a NaN view that takes no memory).
    replicated = {m.name: m.values(stats, draws.blocks) if defined_for_some_pair(point[m.name])
                  else np.broadcast_to(np.float32(np.nan), (len(draws.blocks), *point[m.name].shape))
                  for m in metrics if m.headline}
    return PairValues(stats, draws, metrics, point, replicated,
                      stats.run_metric(np.ones((1, stats.n_blocks)))[0], stats.run_metric(draws.blocks))


def breakdowns(runs: list[Run], groups: list[str], outcomes: Outcomes, values: PairValues, settings: Settings,
               trend_values: np.ndarray | None) -> dict:
    """The per-unit table, the trend, agreement over training epochs, by layer and against the
    backbone: the Analysis fields that read more than the pair values."""
    draws, stats = values.draws, values.stats
    units = unit_table(outcomes, [run.group for run in runs], groups, read_texts(runs[0].path))
    trend = None if trend_values is None else trend_analysis(
        runs, settings.trend, trend_values, values.point, values.replicated,
        TaskMetric(values.run_metric, values.replicated_metric, outcomes.metric_name, chance_level(outcomes)),
        outcomes.errors, settings.bootstrap, settings.seed)
    if trend is not None:
        units["scale_pattern"] = trend.unit_patterns
    epoch_curves, epochs = pd.DataFrame(), common_epochs(runs)
    if epochs:
        epoch_curves, errors_by_epoch = over_training(
            runs, groups, settings.unit, epochs,
            lambda found, split: BlockStatistics(runs, found, settings, split, with_knn=False),
            draws.blocks, draws.seeds)
        units["systemic_since_epoch"] = systemic_since(errors_by_epoch, epochs)
    layers = layer_analysis(runs, groups, len(outcomes.row_items), stats.row_blocks, stats.n_blocks,
                            draws.blocks, draws.seeds)
    first = next(iter(values.replicated))
    return {"units": units, "trend": trend, "epochs": epoch_curves, "layers": layers,
            "backbone_drift": backbone_drift(runs, layers.pairs if layers else None, values.point[first],
                                             first, settings.seed)}


def matched_comparisons(group_index: np.ndarray, others: list[Factor], draws: Draws,
                        settings: Settings) -> dict[str, tuple[Comparison, Comparison]]:
    """(point, replicates) pair weights of the headline's sides: matched on the other factors, and
    raw (every pair as it comes)."""
    equal_groups = not settings.pair_weighting
    everyone = (~np.eye(len(group_index), dtype=bool))[None].astype(float)
    drawn = draws.pair_slices
    return {"matched": (compare(everyone, group_index, others, equal_groups),
                        compare(drawn, group_index, others, equal_groups)),
            "raw": (compare(everyone, group_index, [], equal_groups),
                    compare(drawn, group_index, [], equal_groups))}


def defined_for_some_pair(values: np.ndarray) -> bool:
    """Whether a metric's [R, R] point values are a number for any pair of two runs."""
    return bool(np.isfinite(values[~np.eye(len(values), dtype=bool)]).any())


def headline_table(point: dict, replicated: dict, matched: dict, group_index: np.ndarray,
                   names: list[str], draws: Draws) -> dict:
    """Per headline metric: within, across and their difference on matched pairs (``raw_*``: on
    every pair), with intervals and the pairs each side rests on; and ``pooled``, every pair of
    two runs whatever their groups, with its multi-bootstrap interval (the headline when the
    grouping leaves one side without pairs)."""
    freedom = len(group_index) - len(np.unique(group_index))
    every_pair = (~np.eye(len(group_index), dtype=bool)).astype(np.float32)
    headline = {}
    for name in names:
        entry = side_estimates(point[name], replicated[name], *matched["matched"], freedom)
        entry.update({f"raw_{key}": value for key, value in
                      side_estimates(point[name], replicated[name], *matched["raw"], freedom).items()})
        headline[name] = entry
    pooled_draws = draws.pairs     # one [B, R, R] array, made once, after the sides' temporaries
    pooled_draws *= every_pair
    for name in names:
        headline[name]["pooled"] = float(pair_mean(point[name], every_pair))
        headline[name]["pooled_ci"] = interval(pair_mean(replicated[name], pooled_draws))
        headline[name]["pooled_pairs"] = int(((every_pair > 0) & ~np.isnan(point[name])).sum() // 2)
    return headline


def attribution_table(point: dict, replicated: dict, group_index: np.ndarray, groups: list[str],
                      others: list[Factor], settings: Settings, names: list[str]) -> pd.DataFrame:
    """factors.csv. Crossed factors: the levels of every factor are resampled (not runs within
    groups), jointly with the test blocks of ``replicated``."""
    grouping = Factor(["same group"], group_index, list(groups))
    run_draws = level_draws([f.levels for f in (grouping, *others)], settings.bootstrap,
                            stream(settings.seed, "attribution"))
    run_draws = run_draws.astype(np.float32)
    return attribute(point, replicated, run_draws[:, :, None] * run_draws[:, None, :],
                     [grouping, *others], names)


def pair_table(runs: list[Run], point: dict, metrics: list[Metric]) -> pd.DataFrame:
    """pairs.csv: one row per pair of runs, a column per computed metric."""
    upper = np.triu_indices(len(runs), k=1)
    return pd.DataFrame({
        "run_a": [runs[a].name for a in upper[0]], "run_b": [runs[b].name for b in upper[1]],
        "group_a": [runs[a].group for a in upper[0]], "group_b": [runs[b].group for b in upper[1]],
        **{m.name: point[m.name][upper] for m in metrics},
    })


def group_tables(runs: list[Run], groups: list[str], group_index: np.ndarray, outcomes: Outcomes,
                 point: dict, metrics: list[Metric], run_metric: np.ndarray, replicated_metric: np.ndarray,
                 draws: Draws) -> tuple[pd.DataFrame, pd.DataFrame]:
    """groups.csv (task metric, pair metrics, systemic failure per group and pooled) and
    k_histograms.csv."""
    off_diagonal = ~np.eye(len(runs), dtype=bool)
    rows, histograms = [], []
    for label, members in [(g, group_index == i) for i, g in enumerate(groups)] + [(POOLED, None)]:
        members = np.ones(len(runs), bool) if members is None else members
        seeds = draws.seeds * members
        with np.errstate(invalid="ignore", divide="ignore"):
            metric_draws = (replicated_metric * seeds).sum(1) / seeds.sum(1)
        pair_mask = members[:, None] & members[None, :] & off_diagonal
        systemic = systemic_failure(outcomes.errors[members])
        k_observed, k_independent = systemic.pop("k_observed"), systemic.pop("k_independent")
        histograms.extend({"group": label, "k": k, "observed": o, "independent": e}
                          for k, (o, e) in enumerate(zip(k_observed, k_independent)))
        values = run_metric[members]
        pairs_total = int(pair_mask.sum() // 2)
        undefined = {m.name: int((pair_mask & np.isnan(point[m.name])).sum() // 2)
                     for m in metrics if not m.optional}
        rows.append({
            "group": label, "runs": int(members.sum()), "metric": outcomes.metric_name,
            "metric_mean": float(values.mean()),
            "metric_std": float(values.std(ddof=1)) if len(values) > 1 else float("nan"),
            **dict(zip(("metric_ci_low", "metric_ci_high"), interval(metric_draws))),
            **{m.name: float(pair_mean(point[m.name], pair_mask.astype(float)))
               for m in metrics if not m.optional},
            **systemic,
            **{m.name: float(pair_mean(point[m.name], pair_mask.astype(float)))
               for m in metrics if m.optional},
            "pairs": pairs_total,
            "undefined": "; ".join(f"{name} undefined for {count} of {pairs_total} pairs"
                                   for name, count in undefined.items() if count),
        })
    return pd.DataFrame(rows), pd.DataFrame(histograms)


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
    the chance level, so its agreement with other runs may be trivial; without intervals, the
    estimate does)."""
    chance = chance_level(outcomes)
    rows = []
    for index, run in enumerate(runs):
        low, high = interval(replicated_metric[:, index])
        lowest = run_metric[index] if np.isnan(low) else low      # no interval (bootstrap=0): the estimate
        flags = [flag for flag, on in (("untrained (0 steps)", run.record.untrained),
                                       ("near chance", not lowest > chance)) if on]
        rows.append({"run": run.name, "group": run.group, "metric": outcomes.metric_name,
                     "value": float(run_metric[index]), "ci_low": low, "ci_high": high,
                     "chance": chance, "flags": ", ".join(flags)})
    for row in rows:
        if row["flags"]:
            log.warning("%s: %s (%s %.3f [%.3f, %.3f], chance %.3f)", row["run"], row["flags"], row["metric"],
                        row["value"], row["ci_low"], row["ci_high"], chance)
    return pd.DataFrame(rows)
