"""Per-block sums of a set of runs, from which every block-weighted pair metric is computed.

The multi-bootstrap (``analysis.study``) deals the test items into blocks; a replicate re-weights
blocks, so a statistic that is a function of per-block sums (error counts, co-error counts, CKA's
cross products) is recomputed for a replicate without touching the N x H arrays again. The
registry of metrics (``analysis.metrics``) reads these sums through the methods below.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from homogenization.analysis.jobs import JobSplit
from homogenization.analysis.metrics.agreement import (
    block_products,
    capa,
    co_errors,
    cohen_kappa,
    entropy_bits,
    error_pair_stats,
    jensen_shannon_rows,
    same_wrong_chance,
    same_wrong_rate,
)
from homogenization.analysis.metrics.gram_tiles import RunRepresentations
from homogenization.analysis.metrics.measures import pairwise
from homogenization.analysis.metrics.registry import METRICS
from homogenization.analysis.metrics.similarity import BlockCKA, ReplicatedKNN
from homogenization.analysis.random_streams import stream
from homogenization.analysis.runs.discovery import Run
from homogenization.analysis.runs.outcomes import Outcomes, load_representations, task_metric
from homogenization.core.errors import UserError

log = logging.getLogger(__name__)

KNN_CALIBRATION_RUNS = 16   # runs whose pairs calibrate the spread of mutual k-NN's replicates


def degenerate_representations(runs: list[Run], representations: Iterable[np.ndarray | None]) -> np.ndarray:
    """bool [R]: runs without test representations (one line for all of them), or whose
    representations are not all finite, or identical for every unit (one warning each). Their
    representation similarities are undefined (NaN), never a number. Reads each run's once."""
    flags, absent = [], []
    for run, values in zip(runs, representations):
        if values is None:
            absent.append(run.name)
            flags.append(True)
            continue
        finite = bool(np.isfinite(values).all())
        constant = finite and bool((values.max(axis=0) - values.min(axis=0)).max(initial=0) == 0)
        if not finite or constant:
            state = "not finite" if not finite else "the same for every unit"
            log.warning("%s: its test representations are %s; every representation similarity of this "
                        "run is undefined (NaN)", run.name, state)
        flags.append(not finite or constant)
    if absent:
        log.warning("%d of %d runs have no representations (%s%s): the representation measures (CKA, "
                    "mutual k-NN, ...) are undefined for their pairs; the outcome measures are complete",
                    len(absent), len(runs), ", ".join(absent[:3]), ", ..." if len(absent) > 3 else "")
    return np.array(flags, dtype=bool)


def block_sums(values: np.ndarray, blocks: np.ndarray, n_blocks: int) -> np.ndarray:
    """Sum ``values`` [..., N] over the units of each block: [..., M] float64. The units are sorted
    by block once and each block's run summed (``np.add.reduceat``): N additions per row, where a
    product with an [N, M] indicator matrix costs N x M."""
    order = np.argsort(blocks, kind="stable")
    sorted_blocks = blocks[order]
    starts = np.searchsorted(sorted_blocks, np.arange(n_blocks))
    present = starts < np.searchsorted(sorted_blocks, np.arange(n_blocks), side="right")
    sums = np.zeros((*np.shape(values)[:-1], n_blocks))
    if present.any():
        sums[..., present] = np.add.reduceat(np.asarray(values, dtype=np.float64)[..., order],
                                             starts[present], axis=-1)
    return sums


class BlockStatistics:
    """Per-block sums from which every pairwise statistic is computed under block weights
    (``settings``: the analysis.study.Settings of the analysis)."""

    def __init__(self, runs: list[Run], outcomes: Outcomes, settings, split: str = "test",
                 with_knn: bool = True):
        rng = stream(settings.seed, "blocks")
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

        self._probability_sums(outcomes, row_blocks)

        rows = len(row_blocks)
        knn_rows = np.sort(rng.choice(rows, size=min(rows, settings.knn_max_units), replace=False))
        if settings.knn_k >= len(knn_rows) - 1:
            others = len(knn_rows) - 1
            raise UserError(f"analysis.knn_k={settings.knn_k}: mutual k-NN on {len(knn_rows)} units needs "
                            f"fewer neighbours than the other {others} units (with all of them every pair "
                            f"shares every neighbour); set analysis.knn_k below {others}")
        self.degenerate = degenerate_representations(
            runs, load_representations(runs, len(outcomes.row_items), split))
        # CKA and mutual k-NN are computed on the runs with usable representations only (the
        # others' pairs are NaN): a study of imported predictions pays nothing for them. Their
        # representations are read from the run directories when needed, never all at once.
        self.usable = np.flatnonzero(~self.degenerate)
        usable = RunRepresentations(tuple(str(runs[i].path) for i in self.usable), split)
        self.source, self.n_rows = usable, len(row_blocks)
        work = None if settings.work_dir is None else Path(settings.work_dir)
        # Without intervals (bootstrap=0) CKA needs no per-block Gram: one block, the plain
        # feature-space products X_b^T X_a.
        self.cka_blocks = self.n_blocks if settings.bootstrap else 1
        cka_row_blocks = row_blocks if settings.bootstrap else np.zeros_like(row_blocks)
        self.device = settings.device
        self.job_split = JobSplit(settings.jobs, settings.launcher, work, settings.slurm)
        self.cka = BlockCKA(usable, cka_row_blocks, self.cka_blocks,
                            None if work is None else work / f"cka_gram_{split}.npy",
                            self.device, self.job_split) \
            if len(usable) else None
        k = settings.knn_k
        self.knn = ReplicatedKNN((values[knn_rows] for values in usable), row_blocks[knn_rows], k) \
            if with_knn and len(usable) else None
        self.knn_bootstrap = settings.knn_bootstrap
        self.outcomes, self.rsa_max_units, self.seed = outcomes, settings.rsa_max_units, settings.seed
        self.measures = list(settings.measures)
        self._errors_of, self._error_stats = None, {}
        self._knn_sums, self._knn_units, self._knn_spread = None, None, None
        self._measured: dict[str, np.ndarray] = {}

    def error_stats(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """Error consistency, co-error rate, Jaccard and homogenization ratio under block weights
        [B, M]: each [B, R, R] (computed once per weights array; the registry asks per metric)."""
        if self._errors_of is not weights:
            units = weights @ self.units
            error_rate = (weights @ self.errors.T) / units[:, None]
            both_wrong = np.einsum("abm,km->kab", self.co_errors, weights) / units[:, None, None]
            self._errors_of, self._error_stats = weights, error_pair_stats(error_rate, both_wrong)
        return self._error_stats

    def _probability_sums(self, outcomes: Outcomes, row_blocks: np.ndarray) -> None:
        """Per block: prediction rows, each run's probability on the gold label, the pairs'
        probability overlap, rows both get wrong and rows both get wrong with the same label."""
        probs = np.stack(outcomes.probs).astype(np.float32)                              # [R, N, C]
        n_labels, rows = probs.shape[2], np.arange(probs.shape[1])
        self.n_labels = n_labels
        self.rows = np.bincount(row_blocks, minlength=self.n_blocks).astype(np.float64)
        self.gold_probability = block_sums(probs[:, rows, outcomes.gold], row_blocks, self.n_blocks)
        self.probability_overlap = block_products(probs, row_blocks, self.n_blocks)
        answered = outcomes.preds >= 0              # pred -1: an abstention (homog-import abstain=)
        predicted = np.zeros(probs.shape, dtype=np.float32)
        np.put_along_axis(predicted, np.maximum(outcomes.preds, 0)[..., None], answered[..., None], axis=2)
        self.same_label = block_products(predicted, row_blocks, self.n_blocks)
        self.label_counts = block_sums(predicted.transpose(0, 2, 1), row_blocks, self.n_blocks)  # [R, C, M]
        self._row_blocks, self._jsd = row_blocks, None
        wrong = answered & (outcomes.preds != outcomes.gold[None])           # [R, N]: a wrong label given
        self.rows_both_wrong = block_products(wrong[..., None], row_blocks, self.n_blocks)
        wrong_label = predicted * wrong[..., None]
        self.rows_same_wrong = block_products(wrong_label, row_blocks, self.n_blocks)
        self.same_wrong_chance_values = same_wrong_chance(wrong_label, wrong, outcomes.gold, n_labels)

    def capa(self, weights: np.ndarray) -> np.ndarray:
        """CAPA (kappa_p) under block weights [B, M]: [B, R, R]."""
        rows = weights @ self.rows
        overlap = np.einsum("abm,km->kab", self.probability_overlap, weights) / rows[:, None, None]
        return capa(overlap, (weights @ self.gold_probability.T) / rows[:, None], self.n_labels)

    def same_wrong_chance(self) -> np.ndarray:
        """[R, R]: "same wrong label" if the two runs erred independently with their own wrong-label
        distributions (``agreement.same_wrong_chance``); a point estimate."""
        return self.same_wrong_chance_values

    def same_wrong(self, weights: np.ndarray) -> np.ndarray:
        """Same wrong label when both are wrong, under block weights [B, M]: [B, R, R]."""
        return same_wrong_rate(np.einsum("abm,km->kab", self.rows_same_wrong, weights),
                               np.einsum("abm,km->kab", self.rows_both_wrong, weights), self.n_labels)

    def linear_cka(self, weights: np.ndarray) -> np.ndarray:
        return self.for_every_run(None if self.cka is None else self.cka.cka(self._cka_weights(weights)),
                                  len(weights))

    def debiased_cka(self, weights: np.ndarray) -> np.ndarray:
        found = None if self.cka is None else self.cka.debiased_cka(self._cka_weights(weights))
        return self.for_every_run(found, len(weights))

    def _cka_weights(self, weights: np.ndarray) -> np.ndarray:
        """Block weights as CKA's blocks see them: itself, or with one block (no intervals), the
        point estimate's (replicates have no blocks to draw there)."""
        if self.cka_blocks == self.n_blocks:
            return weights
        if not (weights == 1).all():
            raise ValueError("CKA was computed without blocks (bootstrap=0): it has no replicates")
        return np.ones((len(weights), 1))

    def for_every_run(self, values: np.ndarray | None, replicates: int) -> np.ndarray:
        """[B, R, R] from values [B, U, U] of the runs with usable representations (``usable``):
        NaN for every pair involving another run, or everywhere when ``values`` is None."""
        runs = len(self.degenerate)
        found = np.full((replicates, runs, runs), np.nan)
        if values is not None:
            found[:, self.usable[:, None], self.usable[None, :]] = values
        return found

    def mutual_knn(self, weights: np.ndarray) -> np.ndarray:
        """Mutual k-NN under block weights [B, M]: [B, R, R]. A row of all ones is the point
        estimate (the full sample's neighbours). Any other row is a replicate: the full sample's
        neighbours counted under the weights (block sums, cheap), its deviation from the point
        scaled by ``knn_spread`` (a replicate that finds its neighbours again among the units it
        drew varies more); with ``knn_bootstrap`` = 0 replicates are NaN (no interval)."""
        if self.knn is None:
            return self.for_every_run(None, len(weights))
        point = self._knn_fixed(np.ones((1, self.n_blocks)))[0]
        found = point + self.knn_spread() * (self._knn_fixed(weights) - point)
        found[(weights == 1).all(axis=1)] = point
        return self.for_every_run(found, len(weights))

    def _knn_fixed(self, weights: np.ndarray, runs: np.ndarray | None = None) -> np.ndarray:
        """Mutual k-NN with the full sample's neighbours under block weights [B, M]: [B, R, R] (of
        the usable runs indexed by ``runs`` only: [B, r, r])."""
        if self._knn_sums is None:
            self._knn_sums = self.knn.block_sums(self.n_blocks)
            self._knn_units = np.bincount(self.knn.blocks.numpy(), minlength=self.n_blocks).astype(float)
        sums = self._knn_sums if runs is None else self._knn_sums[np.ix_(runs, runs)]
        units = weights @ self._knn_units
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.einsum("abm,km->kab", sums, weights) / (self.knn.k * units[:, None, None])

    def knn_spread(self) -> float:
        """How much more mutual k-NN varies over bootstrap replicates that find each unit's
        neighbours again among the units they drew than over replicates that keep the full
        sample's: the ratio of their standard deviations, pooled over the pairs of at most
        ``KNN_CALIBRATION_RUNS`` runs, from ``knn_bootstrap`` draws of the blocks (NaN with none).
        Finding neighbours again is what makes the interval honest (keeping them gave 0.7-1.0 of
        the right width) and costs a pass over every pair per replicate; one ratio for the study
        needs few replicates and few runs, so its cost does not grow with the study."""
        if self._knn_spread is None:
            self._knn_spread = float("nan")
            if self.knn_bootstrap >= 2:
                rng = stream(self.seed, "knn")
                draws = rng.multinomial(self.n_blocks, np.full(self.n_blocks, 1 / self.n_blocks),
                                        size=self.knn_bootstrap).astype(float)
                count = len(self.usable)
                runs = np.sort(rng.choice(count, size=min(count, KNN_CALIBRATION_RUNS), replace=False))
                upper = np.triu_indices(len(runs), k=1)
                refound = self.knn.overlap(draws, runs)[:, upper[0], upper[1]]
                fixed = self._knn_fixed(draws, runs)[:, upper[0], upper[1]]
                usable = np.isfinite(refound).all(0) & np.isfinite(fixed).all(0)
                fixed_variance = fixed[:, usable].var(axis=0, ddof=1).sum()
                if fixed_variance > 0:
                    self._knn_spread = float(np.sqrt(refound[:, usable].var(axis=0, ddof=1).sum()
                                                     / fixed_variance))
        return self._knn_spread

    def agreement(self, weights: np.ndarray) -> np.ndarray:
        """The fraction of prediction rows with the same predicted label, under block weights."""
        return np.einsum("abm,km->kab", self.same_label, weights) / (weights @ self.rows)[:, None, None]

    def cohen_kappa(self, weights: np.ndarray) -> np.ndarray:
        rates = np.einsum("rcm,km->krc", self.label_counts, weights) / (weights @ self.rows)[:, None, None]
        return cohen_kappa(self.agreement(weights), rates)

    def label_gap(self, weights: np.ndarray) -> np.ndarray:
        """Total variation distance between the two runs' predicted label distributions (half the
        summed absolute differences of their label rates), under block weights: [B, R, R]."""
        rates = np.einsum("rcm,km->krc", self.label_counts, weights) / (weights @ self.rows)[:, None, None]
        return 0.5 * np.abs(rates[:, :, None, :] - rates[:, None, :, :]).sum(-1)

    def jsd(self, weights: np.ndarray) -> np.ndarray:
        """Mean Jensen-Shannon divergence of the predicted distributions, under block weights (the
        per-row divergences of every pair are summed per block once, on first use)."""
        if self._jsd is None:
            probs = self.outcomes.probs
            runs = len(probs)
            self._jsd = np.zeros((runs, runs, self.n_blocks))
            entropies = [entropy_bits(p) for p in probs]
            for a in range(runs - 1):
                rows = jensen_shannon_rows(probs[a][None], np.stack(probs[a + 1:]),      # [R - a - 1, N]
                                           entropies[a][None], np.stack(entropies[a + 1:]))
                sums = block_sums(rows, self._row_blocks, self.n_blocks)
                self._jsd[a, a + 1:], self._jsd[a + 1:, a] = sums, sums
        return np.einsum("abm,km->kab", self._jsd, weights) / (weights @ self.rows)[:, None, None]

    def measure(self, name: str) -> np.ndarray:
        """An optional measure of ``analysis.measures`` (``measures.py``) for every pair [R, R];
        the first asked computes every representation measure of ``analysis.measures`` in one
        pass over the runs (NaN for pairs with a run without usable representations)."""
        if name not in self._measured:
            asked = {other: METRICS[other].pair_function for other in {*self.measures, name}
                     if other in METRICS and METRICS[other].pair_function is not None}
            found = pairwise(dict(sorted(asked.items())), self.source, self.rsa_max_units, self.seed,
                             self.device, self.job_split)
            for key, values in found.items():
                self._measured[key] = self.for_every_run(values[None], 1)[0]
        return self._measured[name]

    def run_metric(self, weights: np.ndarray) -> np.ndarray:
        """Task metric of every run under block weights [B, M]: [B, R]."""
        return task_metric(np.einsum("rmc,km->krc", self.task_counts, weights))
