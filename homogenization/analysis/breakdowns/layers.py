"""Layer by layer: at which depth do runs converge? (runs trained with ``record.layers``)

- ``layer_pairs.csv``: linear CKA of every layer of one run against every layer of another, for
  every pair of runs (``run_a, run_b, layer_a, layer_b, linear_cka``), computed in feature space
  (one H x G product per layer pair, never an N x N kernel).
- Layer x layer heatmaps, averaged over the pairs of runs within each group and across each pair of
  groups (both orders within a group, so its map is symmetric).
- The same-layer curve: for each layer k, the mean CKA of layer k between runs of one group (and
  between two groups of the same depth), with a 95% multi-bootstrap interval: seeds resampled within
  groups and test items in blocks, exactly as for the headline (BlockCKA per layer).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from homogenization.analysis.metrics.bootstrap import interval, pair_mean
from homogenization.analysis.metrics.similarity import BlockCKA, centred
from homogenization.analysis.runs.discovery import Run
from homogenization.core.errors import UserError
from homogenization.core.run_record import read_representations, representation_file

log = logging.getLogger(__name__)


@dataclass
class LayerAnalysis:
    pairs: pd.DataFrame                       # layer_pairs.csv
    curves: pd.DataFrame                      # layer, group_a, group_b, linear_cka, ci_low, ci_high, pairs
    heatmaps: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)


def recorded_layers(runs: list[Run]) -> list[list[int]] | None:
    """Each run's recorded layers, or None (with a note) unless every run recorded some."""
    layers = [list((run.record.test or {}).get("layers") or []) for run in runs]
    missing = [run.name for run, found in zip(runs, layers) if not found]
    if missing:
        if len(missing) < len(runs):
            log.warning("layer-wise analysis skipped: %d of %d runs have no layer representations "
                        "(train them with record.layers=all), e.g. %s", len(missing), len(runs), missing[0])
        return None
    return layers


def _load(run: Run, layer: int, rows: int) -> np.ndarray:
    path = representation_file(run.path, layer=layer)
    try:
        values = read_representations(run.path, layer=layer).astype(np.float32)
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: cannot be read ({error}); re-run this job or leave it out") from None
    if values.ndim != 2 or len(values) != rows:
        raise UserError(f"{path}: shape {values.shape}, expected one row per test prediction ({rows})")
    return values


def cross_layer_cka(runs: list[Run], layers: list[list[int]], rows: int) -> pd.DataFrame:
    """Point linear CKA of every layer pair of every pair of runs. Each run's centred layers are
    side by side in one matrix, so a pair of runs costs one large product whose blocks are the
    layer pairs' cross-covariances."""
    stacked, widths, self_norms = [], [], []
    for run, found in zip(runs, layers):
        layer_values = [centred(_load(run, k, rows)) for k in found]
        widths.append([x.shape[1] for x in layer_values])
        self_norms.append([float(torch.linalg.matrix_norm((x.T @ x).double())) for x in layer_values])
        stacked.append(torch.cat(layer_values, dim=1))
    records = []
    for a in range(len(runs)):
        edges_a = np.cumsum([0, *widths[a]])
        for b in range(a + 1, len(runs)):
            edges_b = np.cumsum([0, *widths[b]])
            cross = (stacked[b].T @ stacked[a]).double()                      # [sum G, sum H]
            for ib, j in enumerate(layers[b]):
                for ia, i in enumerate(layers[a]):
                    block = cross[edges_b[ib]:edges_b[ib + 1], edges_a[ia]:edges_a[ia + 1]]
                    norm = self_norms[a][ia] * self_norms[b][ib]
                    value = float(torch.linalg.matrix_norm(block) ** 2) / norm if norm > 0 else np.nan
                    records.append((runs[a].name, runs[b].name, i, j, value))
    frame = pd.DataFrame(records, columns=["run_a", "run_b", "layer_a", "layer_b", "linear_cka"])
    return frame.sort_values(["run_a", "run_b", "layer_a", "layer_b"], kind="stable", ignore_index=True)


def heatmaps(pairs: pd.DataFrame, runs: list[Run], groups: list[str],
             layers: list[list[int]]) -> dict[tuple[str, str], np.ndarray]:
    """Layer x layer mean CKA for each group (pairs within it) and each pair of groups."""
    group_of = {run.name: run.group for run in runs}
    depth = {}
    for run, found in zip(runs, layers):
        depth.setdefault(run.group, set()).add(tuple(found))
    both_orders = pd.concat([pairs, pairs.rename(columns={"run_a": "run_b", "run_b": "run_a",
                                                          "layer_a": "layer_b", "layer_b": "layer_a"})])
    both_orders["group_a"] = both_orders.run_a.map(group_of)
    both_orders["group_b"] = both_orders.run_b.map(group_of)
    maps = {}
    for index, first in enumerate(groups):
        for second in groups[index:]:
            if len(depth[first]) != 1 or len(depth[second]) != 1:
                continue   # runs of one group with different layers: no common map
            part = both_orders[(both_orders.group_a == first) & (both_orders.group_b == second)]
            if part.empty:
                continue
            table = part.groupby(["layer_a", "layer_b"]).linear_cka.mean().unstack("layer_b")
            maps[(first, second)] = table.to_numpy()
    return maps


def same_layer_curves(runs: list[Run], groups: list[str], layers: list[list[int]], rows: int,
                      row_blocks: np.ndarray, n_blocks: int, block_draws: np.ndarray,
                      seed_draws: np.ndarray) -> pd.DataFrame:
    """Mean CKA of layer k between runs of one group, and between two groups with the same layers,
    with multi-bootstrap intervals (the headline's block and seed draws)."""
    group_layers = {}
    for run, found in zip(runs, layers):
        group_layers.setdefault(run.group, set()).add(tuple(found))
    records = []
    for k in sorted({k for found in layers for k in found}):
        having = [index for index, found in enumerate(layers) if k in found]
        subset = [runs[index] for index in having]
        cka = BlockCKA([_load(run, k, rows) for run in subset], row_blocks, n_blocks)
        point, replicated = cka.cka(np.ones((1, n_blocks)))[0], cka.cka(block_draws)
        draws = seed_draws[:, having]
        pair_draws = draws[:, :, None] * draws[:, None, :]
        group_index = np.array([groups.index(run.group) for run in subset])
        for a, first in enumerate(groups):
            for b in range(a, len(groups)):
                second = groups[b]
                if a != b and (len(group_layers.get(first, ())) != 1
                               or group_layers.get(first) != group_layers.get(second)):
                    continue   # "the same layer" of two architectures of different depth: undefined
                mask = (((group_index[:, None] == a) & (group_index[None, :] == b))
                        | ((group_index[:, None] == b) & (group_index[None, :] == a)))
                mask &= ~np.eye(len(subset), dtype=bool)
                if not mask.any():
                    continue
                low, high = interval(pair_mean(replicated, pair_draws * mask))
                records.append({"layer": k, "group_a": first, "group_b": second,
                                "linear_cka": float(pair_mean(point, mask.astype(float))),
                                "ci_low": low, "ci_high": high, "pairs": int(mask.sum() // 2)})
    return pd.DataFrame(records, columns=["layer", "group_a", "group_b", "linear_cka", "ci_low", "ci_high",
                                          "pairs"])


def layer_analysis(runs: list[Run], groups: list[str], rows: int, row_blocks: np.ndarray, n_blocks: int,
                   block_draws: np.ndarray, seed_draws: np.ndarray) -> LayerAnalysis | None:
    """Everything above, or None when the runs recorded no layers."""
    layers = recorded_layers(runs)
    if layers is None:
        return None
    pairs = cross_layer_cka(runs, layers, rows)
    return LayerAnalysis(pairs, same_layer_curves(runs, groups, layers, rows, row_blocks, n_blocks,
                                                  block_draws, seed_draws),
                         heatmaps(pairs, runs, groups, layers))
