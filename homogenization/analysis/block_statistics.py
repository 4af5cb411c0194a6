"""Per-block sums of a set of runs, from which every block-weighted pair metric is computed.

The multi-bootstrap (``analysis.study``) deals the test items into blocks; a replicate re-weights
blocks, so a statistic that is a function of per-block sums (error counts, co-error counts, CKA's
cross products) is recomputed for a replicate without touching the N x H arrays again. The
registry of metrics (``analysis.metrics``) reads these sums through the methods below.
"""

from __future__ import annotations

import logging

import numpy as np

from homogenization.analysis.agreement import (
    block_products,
    capa,
    co_errors,
    cohen_kappa,
    error_pair_stats,
    jensen_shannon_rows,
    same_wrong_rate,
)
from homogenization.analysis.discovery import Run
from homogenization.analysis.measures import pairwise
from homogenization.analysis.outcomes import Outcomes, load_representations, task_metric
from homogenization.analysis.similarity import BlockCKA, ReplicatedKNN
from homogenization.core.errors import UserError

log = logging.getLogger(__name__)


def degenerate_representations(runs: list[Run], representations: list[np.ndarray | None]) -> np.ndarray:
    """bool [R]: runs without test representations (one line for all of them), or whose
    representations are not all finite, or identical for every unit (one warning each). Their
    representation similarities are undefined (NaN), never a number."""
    absent = [run.name for run, values in zip(runs, representations) if values is None]
    if absent:
        log.warning("%d of %d runs have no representations (%s%s): the representation measures (CKA, "
                    "mutual k-NN, ...) are undefined for their pairs; the outcome measures are complete",
                    len(absent), len(runs), ", ".join(absent[:3]), ", ..." if len(absent) > 3 else "")
    flags = []
    for run, values in zip(runs, representations):
        if values is None:
            flags.append(True)
            continue
        finite = bool(np.isfinite(values).all())
        constant = finite and bool((values.max(axis=0) - values.min(axis=0)).max(initial=0) == 0)
        if not finite or constant:
            state = "not finite" if not finite else "the same for every unit"
            log.warning("%s: its test representations are %s; every representation similarity of this "
                        "run is undefined (NaN)", run.name, state)
        flags.append(not finite or constant)
    return np.array(flags, dtype=bool)


def block_sums(values: np.ndarray, blocks: np.ndarray, n_blocks: int) -> np.ndarray:
    """Sum ``values`` [..., N] over the units of each block: [..., M]."""
    return values.astype(np.float64) @ np.eye(n_blocks)[blocks]


class BlockStatistics:
    """Per-block sums from which every pairwise statistic is computed under block weights
    (``settings``: the analysis.study.Settings of the analysis)."""

    def __init__(self, runs: list[Run], outcomes: Outcomes, settings, split: str = "test",
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

        self._probability_sums(outcomes, row_blocks)

        representations = load_representations(runs, len(outcomes.row_items), split)
        self.degenerate = degenerate_representations(runs, representations)
        width = max((r.shape[1] for r in representations if r is not None), default=1)
        representations = [np.zeros((len(row_blocks), width), np.float32) if r is None else
                            np.zeros_like(r) if bad else r
                            for r, bad in zip(representations, self.degenerate)]
        self.representations = representations
        self.cka = BlockCKA(representations, row_blocks, self.n_blocks)
        rows = len(row_blocks)
        knn_rows = np.sort(rng.choice(rows, size=min(rows, settings.knn_max_units), replace=False))
        if settings.knn_k >= len(knn_rows) - 1:
            others = len(knn_rows) - 1
            raise UserError(f"analysis.knn_k={settings.knn_k}: mutual k-NN on {len(knn_rows)} units needs "
                            f"fewer neighbours than the other {others} units (with all of them every pair "
                            f"shares every neighbour); set analysis.knn_k below {others}")
        k = settings.knn_k
        self.knn = ReplicatedKNN([r[knn_rows] for r in representations], row_blocks[knn_rows], k) \
            if with_knn else None
        self.knn_bootstrap = settings.knn_bootstrap
        self.outcomes, self.rsa_max_units, self.seed = outcomes, settings.rsa_max_units, settings.seed
        self._errors_of, self._error_stats = None, {}
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
        predicted = np.zeros(probs.shape, dtype=np.float32)
        np.put_along_axis(predicted, outcomes.preds[..., None], 1.0, axis=2)
        self.same_label = block_products(predicted, row_blocks, self.n_blocks)
        self.label_counts = block_sums(predicted.transpose(0, 2, 1), row_blocks, self.n_blocks)  # [R, C, M]
        self._row_blocks, self._jsd = row_blocks, None
        wrong = outcomes.preds != outcomes.gold[None]                                     # [R, N]
        self.rows_both_wrong = block_products(wrong[..., None], row_blocks, self.n_blocks)
        wrong_label = np.zeros(probs.shape, dtype=np.float32)
        np.put_along_axis(wrong_label, outcomes.preds[..., None], wrong[..., None].astype(np.float32), axis=2)
        self.rows_same_wrong = block_products(wrong_label, row_blocks, self.n_blocks)

    def capa(self, weights: np.ndarray) -> np.ndarray:
        """CAPA (kappa_p) under block weights [B, M]: [B, R, R]."""
        rows = weights @ self.rows
        overlap = np.einsum("abm,km->kab", self.probability_overlap, weights) / rows[:, None, None]
        return capa(overlap, (weights @ self.gold_probability.T) / rows[:, None], self.n_labels)

    def same_wrong(self, weights: np.ndarray) -> np.ndarray:
        """Same wrong label when both are wrong, under block weights [B, M]: [B, R, R]."""
        return same_wrong_rate(np.einsum("abm,km->kab", self.rows_same_wrong, weights),
                               np.einsum("abm,km->kab", self.rows_both_wrong, weights), self.n_labels)

    def linear_cka(self, weights: np.ndarray) -> np.ndarray:
        return self.undefined_for_degenerate(self.cka.cka(weights))

    def debiased_cka(self, weights: np.ndarray) -> np.ndarray:
        return self.undefined_for_degenerate(self.cka.debiased_cka(weights))

    def mutual_knn(self, weights: np.ndarray) -> np.ndarray:
        """The first ``knn_bootstrap`` replicates find neighbours again (the costly part); the rest
        are NaN, and a point estimate (one all-ones weight row) always finds them."""
        found = np.full((len(weights), *self.cka.cka(weights[:1]).shape[1:]), np.nan)
        replicated = len(weights) if len(weights) == 1 else min(len(weights), self.knn_bootstrap)
        if self.knn is not None and replicated > 0:
            found[:replicated] = self.knn.overlap(weights[:replicated])
        return self.undefined_for_degenerate(found)

    def agreement(self, weights: np.ndarray) -> np.ndarray:
        """The fraction of prediction rows with the same predicted label, under block weights."""
        return np.einsum("abm,km->kab", self.same_label, weights) / (weights @ self.rows)[:, None, None]

    def cohen_kappa(self, weights: np.ndarray) -> np.ndarray:
        rates = np.einsum("rcm,km->krc", self.label_counts, weights) / (weights @ self.rows)[:, None, None]
        return cohen_kappa(self.agreement(weights), rates)

    def jsd(self, weights: np.ndarray) -> np.ndarray:
        """Mean Jensen-Shannon divergence of the predicted distributions, under block weights (the
        per-row divergences of every pair are summed per block once, on first use)."""
        if self._jsd is None:
            probs = self.outcomes.probs
            runs = len(probs)
            self._jsd = np.zeros((runs, runs, self.n_blocks))
            for a in range(runs - 1):
                rows = jensen_shannon_rows(probs[a][None], np.stack(probs[a + 1:]))   # [R - a - 1, N]
                sums = block_sums(rows, self._row_blocks, self.n_blocks)
                self._jsd[a, a + 1:], self._jsd[a + 1:, a] = sums, sums
        return np.einsum("abm,km->kab", self._jsd, weights) / (weights @ self.rows)[:, None, None]

    def measure(self, name: str) -> np.ndarray:
        """An optional measure of ``analysis.measures`` (``measures.py``) for every pair [R, R]."""
        if name not in self._measured:
            self._measured.update(pairwise([name], self.representations, self.degenerate,
                                           self.rsa_max_units, self.seed))
        return self._measured[name]

    def undefined_for_degenerate(self, values: np.ndarray) -> np.ndarray:
        """NaN for every pair [.., R, R] involving a run whose representations are degenerate."""
        values = values.copy()
        values[..., self.degenerate, :] = np.nan
        values[..., :, self.degenerate] = np.nan
        return values

    def run_metric(self, weights: np.ndarray) -> np.ndarray:
        """Task metric of every run under block weights [B, M]: [B, R]."""
        return task_metric(np.einsum("rmc,km->krc", self.task_counts, weights))
