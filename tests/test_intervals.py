"""The headline's intervals for runs crossed with test items (bootstrap.crossed_interval), checked
for coverage against a two-way random-effects simulation with a known truth."""

import numpy as np
import pytest

from homogenization.analysis.metrics.bootstrap import crossed_interval, interval, run_effect_scale


def _study(rng, runs, items, blocks, run_sd, item_sd, noise_sd, replicates=200):
    """The mean over pairs of runs and over items of a_i + a_j + b_item + e_pair,item (truth 0),
    with the three bootstraps: runs only, item blocks only, both."""
    a = rng.normal(0, run_sd, runs)
    pairs = np.array([(i, j) for i in range(runs) for j in range(i + 1, runs)])
    block_of = np.arange(items) % blocks
    x = (a[pairs[:, 0], None] + a[pairs[:, 1], None] + rng.normal(0, item_sd, items)[None]
         + rng.normal(0, noise_sd, (len(pairs), items)))
    per_block = np.stack([x[:, block_of == m].mean(1) for m in range(blocks)], axis=1)   # [P, M]
    run_counts = rng.multinomial(runs, np.full(runs, 1 / runs), size=replicates)
    pair_w = run_counts[:, pairs[:, 0]] * run_counts[:, pairs[:, 1]]                    # [B, P]
    block_w = rng.multinomial(blocks, np.full(blocks, 1 / blocks), size=replicates)     # [B, M]
    ones_p, ones_m = np.ones_like(pair_w), np.ones_like(block_w)

    def mean(pw, bw):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.einsum("bp,pm,bm->b", pw, per_block, bw) / (pw.sum(1) * bw.sum(1))

    square = np.zeros((replicates + 1, runs, runs))
    square[1:, pairs[:, 0], pairs[:, 1]] = pair_w
    square[0, pairs[:, 0], pairs[:, 1]] = 1
    scale = run_effect_scale(square[0], square[1:])
    return (float(per_block.mean()), mean(pair_w, ones_m), mean(ones_p, block_w), mean(pair_w, block_w),
            scale)


@pytest.mark.parametrize("run_sd, item_sd, noise_sd", [(0.0, 0.02, 1.0), (0.1, 0.02, 0.5), (0.1, 0.0, 0.2)])
def test_crossed_intervals_cover_the_truth_where_resampling_both_overcovers(run_sd, item_sd, noise_sd):
    rng = np.random.default_rng(7)
    runs, found, naive = 5, [], []
    for _ in range(300):
        estimate, runs_only, items_only, both, scale = _study(rng, runs, 400, 40, run_sd, item_sd, noise_sd)
        low, high = crossed_interval(estimate, runs_only, items_only, both, scale, runs - 1)
        found.append(low <= 0 <= high)
        low, high = interval(both)
        naive.append(low <= 0 <= high)
    assert 0.92 <= np.mean(found) <= 0.985, np.mean(found)
    if noise_sd >= 0.5 and run_sd == 0:
        assert np.mean(naive) > 0.985     # resampling both counts the pair-by-item noise three times


def test_an_interval_without_item_replicates_is_undefined():
    nan = np.full(10, np.nan)
    assert np.isnan(crossed_interval(0.5, np.ones(10), nan, np.ones(10), 3, 2)).all()
