"""The analysis's randomness, one named stream per use, all from ``analysis.seed``.

Each use gets a generator of its own, ``SeedSequence(seed).spawn``'s child at the stream's place in
``STREAMS``: independent of the others, the same for a seed on every machine, and one use never
shifts another's numbers (adding draws to the trend leaves the headline's unchanged). A new use
adds its name at the end of ``STREAMS``, so the earlier streams keep their numbers.
"""

from __future__ import annotations

import numpy as np

STREAMS = (
    "blocks",         # the test items dealt into blocks (metrics/block_statistics.py)
    "replicates",     # the headline's multi-bootstrap: block weights and runs within groups (study.py)
    "nested",         # backbones, then seeds within them (design/nested.py)
    "attribution",    # the levels of every factor (study.py: attribution_table)
    "trend",          # runs within the levels of a numeric axis (design/trends.py)
    "knn",            # mutual k-NN's calibration replicates (metrics/block_statistics.py)
    "rsa",            # the units RSA is computed on (metrics/measures.py)
    "permutations",   # the backbone-closeness permutation test (breakdowns/backbone_drift.py)
)


def stream(seed: int, name: str) -> np.random.Generator:
    """The generator of the stream ``name`` for the analysis seed ``seed``."""
    if name not in STREAMS:
        raise ValueError(f"no random stream {name!r}; add it to random_streams.STREAMS")
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(STREAMS.index(name),)))
