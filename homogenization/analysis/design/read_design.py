"""The study's design, read from the records: which factors vary, their levels, and how they relate.

A *factor* is a config key whose value varies across the analysed runs (the architecture, the
initial-weights seed, the data-order seed, the backbone, the training subset, ...). Keys that
never change what a run computes (where it writes, how it logs: ``core.fingerprints.RESUMABLE_KEYS``)
and the bookkeeping keys below are not factors. Keys that split the runs the same way are one
factor with several names (``seed`` = ``seed_init`` = ``seed_data`` when both follow ``seed``):
such keys are *aliased*, and no analysis can tell them apart.

Every pair of runs either shares a factor's level or not; the matched comparison and the
attribution (``analysis.attribution``) are built on these sharing indicators.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from homogenization.analysis.runs.discovery import Run, readable
from homogenization.core.errors import UserError
from homogenization.core.fingerprints import flatten, is_bookkeeping

log = logging.getLogger(__name__)

# Keys that vary between runs without being a design choice of the study.
NOT_FACTORS = ("hydra", "check_determinism", "determinism_steps", "record", "compile", "study",
               "data.download", "backbone_revision")
# Names shown for a factor, in order of preference among its aliased keys.
PREFERRED = ("model.name", "seed_init", "seed_data", "seed", "backbone", "model.finetune",
             "data.subsample_seed", "data.max_train_examples", "data.train_fraction")
# Factors listed even when the user names others: the sources of run-to-run variation.
KNOWN = ("model.name", "seed_init", "seed_data", "backbone", "model.finetune", "data.subsample_seed",
         "data.max_train_examples")


@dataclass
class Factor:
    """One factor of the design: its keys (aliases), each run's level and the level names."""

    keys: list[str]
    levels: np.ndarray          # [R] level index of each run
    level_names: list[str]

    @property
    def name(self) -> str:
        return self.keys[0]

    @property
    def label(self) -> str:
        return self.name + (f" (= {', '.join(self.keys[1:])})" if len(self.keys) > 1 else "")

    def shared(self) -> np.ndarray:
        """[R, R] bool: the two runs have the same level."""
        return self.levels[:, None] == self.levels[None, :]


def _value(flat: dict, key: str):
    """A key's value in a flattened config: a leaf, or the sub-tree below it (flattened)."""
    if key in flat:
        return flat[key]
    nested = {k: v for k, v in flat.items() if k.startswith(f"{key}.")}
    return nested or None


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _partition(values: list[str]) -> tuple[np.ndarray, list[str]]:
    names = list(dict.fromkeys(values))
    return np.array([names.index(v) for v in values]), names


def candidate_keys(flats: list[dict]) -> list[str]:
    """The keys whose values vary across the runs' flattened configs (among the runs that have
    them), bookkeeping excluded."""
    keys = sorted(set().union(*flats))
    # train.yaml's `seed` is only the default of seed_init and seed_data, which are what a run uses.
    seed_is_a_default = any("seed_init" in flat or "seed_data" in flat for flat in flats)
    varying = []
    for key in keys:
        if is_bookkeeping(key) or any(key == k or key.startswith(f"{k}.") for k in NOT_FACTORS):
            continue
        if key == "seed" and seed_is_a_default:
            continue
        present = [_text(flat[key]) for flat in flats if key in flat]
        # a key some runs do not have (imported predictions, another model's options) is a
        # factor only where it varies among the runs that have it
        if len(set(present)) > 1:
            varying.append(key)
    return varying


def read_factors(runs: list[Run], requested: list[str] | None = None) -> list[Factor]:
    """The design's factors. ``requested``: the keys of ``analysis.factors`` (each must exist in
    some run), else every varying key. Keys with the same partition of the runs are one factor."""
    flats = [flatten(run.record.config or {}) for run in runs]
    varying = candidate_keys(flats)
    if requested:
        for key in requested:
            if not any(key in flat or any(k.startswith(f"{key}.") for k in flat) for flat in flats):
                raise UserError(f"analysis.factors: {key} is in no run's config; name config keys such as "
                                "seed_init, seed_data, model.name or data.subsample_seed")
        keys = list(dict.fromkeys([*requested, *(k for k in KNOWN if k in varying)]))
    else:
        keys = varying
    by_partition: dict[tuple, list[str]] = {}
    named: dict[tuple, list[str]] = {}
    for key in keys:
        # a run without the key shares its level with no other run
        texts = [_text(value) if (value := _value(flat, key)) is not None else f"(not set: {run.name})"
                 for flat, run in zip(flats, runs)]
        levels, names = _partition(texts)
        if len(names) < 2:
            if requested and key in requested:
                log.warning("analysis.factors: %s has one value in every run (%s); it is no factor of this "
                            "study and is left out", key, names[0] if names else "unset")
            continue
        by_partition.setdefault(tuple(levels), []).append(key)
        named.setdefault(tuple(levels), readable(names))
    factors = []
    for partition, aliases in by_partition.items():
        aliases.sort(key=lambda k: (PREFERRED.index(k) if k in PREFERRED else len(PREFERRED), len(k), k))
        factors.append(Factor(aliases, np.array(partition), named[partition]))
    factors.sort(key=lambda f: (PREFERRED.index(f.name) if f.name in PREFERRED else len(PREFERRED), f.name))
    return factors


def relation(factor: Factor, grouping: np.ndarray) -> str:
    """How ``factor`` relates to the grouping [R]: the same split (aliased), nested in it (each
    level within one group), containing it, crossed (every combination), or partly crossed."""
    pairs = set(zip(grouping.tolist(), factor.levels.tolist()))
    n_groups, n_levels = len(set(grouping.tolist())), len(factor.level_names)
    per_level = {level: {g for g, f in pairs if f == level} for level in range(n_levels)}
    per_group = {group: {f for g, f in pairs if g == group} for group in set(grouping.tolist())}
    if all(len(v) == 1 for v in per_level.values()) and all(len(v) == 1 for v in per_group.values()):
        return "aliased with the grouping"
    if all(len(v) == 1 for v in per_level.values()):
        return "nested in the grouping"
    if all(len(v) == 1 for v in per_group.values()):
        return "contains the grouping"
    if len(pairs) == n_groups * n_levels:
        return "crossed with the grouping"
    return "partly crossed with the grouping"


def design_table(factors: list[Factor], grouping: np.ndarray) -> pd.DataFrame:
    """One row per factor: its keys, levels, runs per level and relation to the grouping."""
    rows = []
    for factor in factors:
        counts = np.bincount(factor.levels, minlength=len(factor.level_names))
        more = " ..." if len(counts) > 8 else ""
        extra = len(factor.keys) - 4
        keys = ", ".join(factor.keys[:4]) + (f" and {extra} more" if extra > 0 else "")
        rows.append({"factor": factor.name, "keys": keys,
                     "levels": len(factor.level_names),
                     "level_names": ", ".join(factor.level_names[:8]) + more,
                     "runs_per_level": ", ".join(str(c) for c in counts[:8]) + more,
                     "relation": relation(factor, grouping)})
    return pd.DataFrame(rows, columns=["factor", "keys", "levels", "level_names", "runs_per_level",
                                       "relation"])


def other_factors(factors: list[Factor], grouping: np.ndarray) -> list[Factor]:
    """The factors that are not the grouping itself (aliased ones are the grouping)."""
    return [f for f in factors if relation(f, grouping) != "aliased with the grouping"]
