"""Nested groups: fine-tuning seeds within backbones within a recipe (the MultiBERTs design).

With ``group_by=[model, backbone]`` and ``nest=backbone``, a run's *outer* group is its recipe
(the ``group_by`` keys but ``nest``) and its *inner* group its backbone. Three kinds of pairs of
runs then answer "does a shared backbone homogenize?":

- within backbone: same recipe, same backbone (different fine-tuning seeds);
- across backbones: same recipe, different backbones (pretrained the same way, other seeds);
- across architectures: different recipes.

Intervals come from a hierarchical multi-bootstrap (Sellam et al. 2022): each replicate draws,
within each recipe, its backbones with replacement, then within each drawn backbone its
fine-tuning runs with replacement, and jointly the test items in blocks. Two draws of the same
backbone are two draws, not one backbone: their runs are never paired as "within backbone",
and pairs of runs of one backbone reached through two draws are left out of "across backbones".
A flat grouping would resample runs as if seeds were exchangeable across backbones, and call a
mix of within- and across-backbone pairs "within".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from homogenization.analysis.metrics.bootstrap import interval, pair_mean
from homogenization.analysis.runs.discovery import Run, config_value, readable
from homogenization.core.errors import UserError

KINDS = ("within_backbone", "across_backbones", "across_architectures")


@dataclass
class Nesting:
    key: str
    outer: list[str]     # each run's recipe (group_by without the nested key)
    inner: list[str]     # each run's backbone (the nested key's value)

    def masks(self) -> dict[str, np.ndarray]:
        outer, inner = np.array(self.outer), np.array([f"{o}\x1f{i}" for o, i in zip(self.outer, self.inner)])
        same_outer, same_inner = outer[:, None] == outer[None, :], inner[:, None] == inner[None, :]
        off_diagonal = ~np.eye(len(outer), dtype=bool)
        return {"within_backbone": same_inner & off_diagonal,
                "across_backbones": same_outer & ~same_inner,
                "across_architectures": ~same_outer}


def nesting_of(runs: list[Run], group_by: list[str], nest: str) -> Nesting:
    if nest not in group_by:
        raise UserError(f"nest={nest}: the nested key must be one of group_by ({', '.join(group_by)}), "
                        f"e.g. group_by=[model,{nest}] nest={nest}")
    outer_keys = [key for key in group_by if key != nest]
    columns = [readable([str(config_value(run.record, key)) for run in runs]) for key in outer_keys]
    outer = [",".join(column[index] for column in columns) or "all" for index in range(len(runs))]
    inner = readable([str(config_value(run.record, nest)) for run in runs])
    return Nesting(nest, outer, inner)


def hierarchical_draws(nesting: Nesting, replicates: int,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Run counts [B, R] over all draws, and within-draw pair weights [B, R, R] (sum over drawn
    backbones of the outer product of that draw's run counts)."""
    runs = len(nesting.outer)
    totals = np.zeros((replicates, runs))
    within = np.zeros((replicates, runs, runs))
    outer, inner = np.array(nesting.outer), np.array(nesting.inner)
    for recipe in dict.fromkeys(nesting.outer):
        backbones = list(dict.fromkeys(inner[outer == recipe]))
        chosen = rng.integers(len(backbones), size=(replicates, len(backbones)))
        for slot in range(len(backbones)):
            for index, backbone in enumerate(backbones):
                members = np.flatnonzero((outer == recipe) & (inner == backbone))
                drawn = (chosen[:, slot] == index)[:, None]
                counts = np.zeros((replicates, runs))
                counts[:, members] = rng.multinomial(len(members), np.full(len(members), 1 / len(members)),
                                                     size=replicates) * drawn
                totals += counts
                within += counts[:, :, None] * counts[:, None, :]
    return totals, within


def nested_headline(point: dict[str, np.ndarray], replicated: dict[str, np.ndarray], nesting: Nesting,
                    metrics: tuple[str, ...], replicates: int, rng: np.random.Generator) -> dict:
    """Per metric: the mean over pairs of each kind with its interval, the pair counts, and the
    differences within - across backbones and across backbones - across architectures."""
    masks = nesting.masks()
    totals, within = hierarchical_draws(nesting, replicates, rng)
    product = totals[:, :, None] * totals[:, None, :]
    weights = {"within_backbone": within * masks["within_backbone"],
               "across_backbones": product * masks["across_backbones"],
               "across_architectures": product * masks["across_architectures"]}
    result = {}
    for name in metrics:
        entry, draws = {}, {}
        for kind in KINDS:
            entry[kind] = float(pair_mean(point[name], masks[kind].astype(float)))
            entry[f"{kind}_pairs"] = int((masks[kind] & ~np.isnan(point[name])).sum() // 2)
            draws[kind] = pair_mean(replicated[name], weights[kind])
            entry[f"{kind}_ci"] = interval(draws[kind])
        for label, (first, second) in {"backbone_effect": ("within_backbone", "across_backbones"),
                                       "recipe_effect": ("across_backbones", "across_architectures")}.items():
            entry[label] = entry[first] - entry[second]
            entry[f"{label}_ci"] = interval(draws[first] - draws[second])
        result[name] = entry
    return result
