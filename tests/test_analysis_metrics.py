"""Each analysis metric against an independent reference implementation or a known value."""

import itertools

import numpy as np
import pytest
from seqeval.metrics import f1_score
from sklearn.metrics import cohen_kappa_score

from homogenization.analysis.breakdowns.systemic import fleiss_kappa, poisson_binomial
from homogenization.analysis.metrics.agreement import co_errors, error_pair_stats, label_agreement
from homogenization.analysis.metrics.gram_tiles import gram_tile
from homogenization.analysis.metrics.similarity import BlockCKA, ReplicatedKNN, linear_cka
from homogenization.analysis.runs.discovery import find_runs
from homogenization.analysis.runs.outcomes import load_outcomes, task_metric
from homogenization.analysis.runs.synthetic_runs import write_run


def gram_cka(x, y):
    """Linear CKA in the Gram form: HSIC(K, L) with the centring matrix H."""
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    k, l_ = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h
    return np.sum(k * l_) / np.sqrt(np.sum(k * k) * np.sum(l_ * l_))


def unbiased_hsic_gram(k, l_):
    """Song et al. (2012), directly from Gram matrices with zeroed diagonals."""
    n = len(k)
    k, l_ = k - np.diag(np.diag(k)), l_ - np.diag(np.diag(l_))
    ones = np.ones(n)
    return (np.trace(k @ l_) + (ones @ k @ ones) * (ones @ l_ @ ones) / ((n - 1) * (n - 2))
            - 2 / (n - 2) * ones @ k @ l_ @ ones) / (n * (n - 3))


def test_agreement_and_cohen_kappa_match_sklearn():
    rng = np.random.default_rng(0)
    preds = rng.integers(0, 3, size=(4, 500))
    preds[1] = np.where(rng.random(500) < 0.6, preds[0], preds[1])
    agreement, kappa = label_agreement(preds, 3)
    for a, b in itertools.combinations(range(4), 2):
        assert agreement[a, b] == pytest.approx(np.mean(preds[a] == preds[b]))
        assert kappa[a, b] == pytest.approx(cohen_kappa_score(preds[a], preds[b]))
    assert kappa[0, 1] > 0.4 > abs(kappa[2, 3])


def test_error_consistency_follows_geirhos_definition():
    rng = np.random.default_rng(1)
    errors = rng.random((3, 400)) < [[0.2], [0.3], [0.25]]
    errors[1, :100] = errors[0, :100]
    stats = error_pair_stats(errors.mean(1), co_errors(errors, np.zeros(400, int), 1)[..., 0] / 400)
    for a, b in itertools.combinations(range(3), 2):
        right_a, right_b = ~errors[a], ~errors[b]
        c_obs = np.mean(right_a == right_b)
        p_a, p_b = right_a.mean(), right_b.mean()
        c_exp = p_a * p_b + (1 - p_a) * (1 - p_b)
        assert stats["error_consistency"][a, b] == pytest.approx((c_obs - c_exp) / (1 - c_exp))
        both = np.mean(errors[a] & errors[b])
        assert stats["error_jaccard"][a, b] == pytest.approx(both / np.mean(errors[a] | errors[b]))
        assert stats["homogenization_ratio"][a, b] == pytest.approx(
            both / (errors[a].mean() * errors[b].mean()))


def test_fleiss_kappa_matches_textbook_formula():
    errors = np.array([[1, 0, 0, 1, 1, 0], [1, 0, 1, 1, 0, 0], [1, 1, 0, 1, 0, 0], [0, 0, 0, 1, 1, 0]],
                      dtype=bool)
    raters, subjects = errors.shape
    table = [[sum(errors[r, i] == c for r in range(raters)) for c in (True, False)] for i in range(subjects)]
    p_i = [(sum(n * n for n in row) - raters) / (raters * (raters - 1)) for row in table]
    p_j = [sum(row[j] for row in table) / (subjects * raters) for j in range(2)]
    p_bar, p_e = sum(p_i) / subjects, sum(p * p for p in p_j)
    assert fleiss_kappa(errors) == pytest.approx((p_bar - p_e) / (1 - p_e))


def test_poisson_binomial_sums_to_one_and_matches_enumeration():
    p = np.array([0.1, 0.35, 0.8])
    pmf = poisson_binomial(p)
    assert pmf.sum() == pytest.approx(1.0)
    enumerated = np.zeros(4)
    for outcome in itertools.product((0, 1), repeat=3):
        enumerated[sum(outcome)] += np.prod([q if o else 1 - q for q, o in zip(p, outcome)])
    np.testing.assert_allclose(pmf, enumerated)


def test_linear_cka_matches_gram_form_and_block_statistics():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(120, 16))
    y = x @ rng.normal(size=(16, 8)) + rng.normal(size=(120, 8))
    assert linear_cka(x, y) == pytest.approx(gram_cka(x, y))
    blocks = rng.permutation(120) % 7
    cka = BlockCKA([x, y], blocks, 7)
    assert cka.cka()[0, 1] == pytest.approx(gram_cka(x, y), rel=1e-5)
    # Block weights equal to one draw of every block reproduce the estimate.
    assert cka.cka(np.ones((1, 7)))[0, 0, 1] == pytest.approx(gram_cka(x, y), rel=1e-5)


def float64_gram(runs, blocks, n_blocks):
    """G[a, b, m, m'] = <X_a,m^T X_b,m, X_a,m'^T X_b,m'>_F directly, in float64."""
    centred = [values - values.mean(0) for values in runs]
    cross = [[[x[blocks == m].T @ y[blocks == m] for m in range(n_blocks)] for y in centred] for x in centred]
    return np.array([[[[np.sum(c[m] * c[k]) for k in range(n_blocks)] for m in range(n_blocks)]
                      for c in row] for row in cross])


@pytest.mark.parametrize("sample_space, n_blocks", [(False, 6), (True, 6), (False, 1)])
def test_the_cka_gram_in_float32_tiles_agrees_with_float64_in_both_spaces(sample_space, n_blocks):
    """Per-block products in feature and in sample space, and with one block (no intervals) the
    plain products, a run's own from X^T X's symmetric halves (an odd width included)."""
    rng = np.random.default_rng(7)
    n = 150
    runs = [rng.normal(size=(n, 13)), rng.normal(size=(n, 4)) @ rng.normal(size=(4, 20)),
            rng.normal(size=(n, 12)) + 3]
    blocks = rng.permutation(n) % n_blocks
    expected = float64_gram(runs, blocks, n_blocks)
    tile, norms = gram_tile(runs, range(3), range(3), blocks, n_blocks, "cpu", sample_space)
    upper = np.triu_indices(3)          # a diagonal tile computes the pairs a <= b
    np.testing.assert_allclose(tile[upper], expected[upper], rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    centred = [x - x.mean(0) for x in runs]        # and its runs' row norms, in unit order
    np.testing.assert_allclose(norms, [(x**2).sum(1) for x in centred], rtol=1e-5)
    assert BlockCKA(runs, blocks, n_blocks).cka()[0, 1] == pytest.approx(gram_cka(*runs[:2]), rel=1e-5)


def test_the_cka_gram_is_the_same_in_many_tiles_and_in_a_file(tmp_path, monkeypatch):
    import homogenization.analysis.metrics.gram_tiles as pair_work
    import homogenization.analysis.metrics.similarity as similarity

    rng = np.random.default_rng(11)
    runs = [rng.normal(size=(300, 16)) + rng.normal() for _ in range(7)]
    blocks = rng.permutation(300) % 10
    monkeypatch.setattr(pair_work, "BATCH_RUNS", 2)
    whole = BlockCKA(runs, blocks, 10)
    monkeypatch.setattr(pair_work, "TILE_BYTES", 2 * 4 * 10 * 16 * 16)      # two runs per chunk: 10 tiles
    monkeypatch.setattr(similarity, "GRAM_BYTES_PER_READ", 8 * 7 * 100)     # G read one run at a time
    assert len(pair_work.tiles(pair_work.chunks_of_runs(7, 4 * 10 * 16 * 16))) == 10
    tiled = BlockCKA(runs, blocks, 10, gram_file=tmp_path / "gram.npy")
    assert isinstance(tiled.gram, np.memmap)
    np.testing.assert_array_equal(tiled.gram, whole.gram)     # the same batches in every tiling
    weights = rng.multinomial(10, np.full(10, 0.1), size=130).astype(float)
    np.testing.assert_allclose(tiled.cka(weights), whole.cka(weights), rtol=1e-12)
    np.testing.assert_allclose(tiled.debiased_cka(weights), whole.debiased_cka(weights), rtol=1e-12)


def test_cka_is_one_for_a_scaled_rotation():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 12))
    rotation, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    assert linear_cka(x, 3.5 * x @ rotation) == pytest.approx(1.0)
    assert linear_cka(x, rng.normal(size=(200, 12))) < 0.2


@pytest.mark.parametrize("n_blocks", [1, 5])
def test_debiased_cka_matches_unbiased_hsic_and_is_near_zero_for_independent_features(n_blocks):
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(256, 32)), rng.normal(size=(256, 32))
    cka = BlockCKA([x, y], rng.permutation(256) % n_blocks, n_blocks)
    xc, yc = x - x.mean(0), y - y.mean(0)
    k, l_ = xc @ xc.T, yc @ yc.T
    reference = unbiased_hsic_gram(k, l_) / np.sqrt(unbiased_hsic_gram(k, k) * unbiased_hsic_gram(l_, l_))
    assert cka.debiased_cka()[0, 1] == pytest.approx(reference, abs=1e-6)
    assert abs(cka.debiased_cka()[0, 1]) < 0.02
    assert cka.cka()[0, 1] > 0.1  # the plain estimator is biased upwards at this n / dim


def test_debiased_cka_under_block_weights_is_that_of_the_units_drawn():
    """Weights 1 reproduce the point estimate; 0/1 weights give the debiased CKA of the chosen
    blocks' units (the replicates keep the full sample's centring, an O(1/N) difference)."""
    rng = np.random.default_rng(5)
    shared = rng.normal(size=(600, 8))
    x, y = shared + rng.normal(size=(600, 8)), shared @ rng.normal(size=(8, 10)) + rng.normal(size=(600, 10))
    blocks = rng.permutation(600) % 6
    cka = BlockCKA([x, y], blocks, 6)
    ones = cka.debiased_cka(np.ones((1, 6)))[0]
    np.testing.assert_allclose(ones, cka.debiased_cka(), atol=1e-12)
    chosen = np.array([[1.0, 0, 1, 1, 0, 1]])
    keep = np.isin(blocks, np.flatnonzero(chosen[0]))
    subset = BlockCKA([x[keep], y[keep]], np.zeros(keep.sum(), dtype=int), 1).debiased_cka()
    assert cka.debiased_cka(chosen)[0, 0, 1] == pytest.approx(subset[0, 1], abs=0.01)


def brute_force_knn(values, k, among):
    """Each unit's k nearest (cosine) among the units ``among``, itself excluded."""
    unit = values / np.linalg.norm(values, axis=1, keepdims=True)
    found = {}
    for i in among:
        others = [j for j in among if j != i]
        similarity = unit[others] @ unit[i]
        found[i] = {others[j] for j in np.argsort(-similarity)[:k]}
    return found


@pytest.mark.parametrize("weights", [[1, 1, 1, 1, 1], [2, 0, 1, 0, 2], [0, 3, 0, 1, 1]])
def test_mutual_knn_finds_neighbours_among_the_units_each_replicate_drew(weights):
    """Against brute force: neighbours among the drawn units only, each drawn unit counted as
    often as drawn; weights 1 is the plain mutual k-NN of the sample."""
    rng = np.random.default_rng(5)
    base = rng.normal(size=(60, 5))
    runs = [base + noise * rng.normal(size=(60, 5)) for noise in (0.3, 0.5, 2.0)]
    blocks, k = rng.permutation(60) % 5, 4
    weights = np.array(weights, dtype=float)
    found = ReplicatedKNN(runs, blocks, k).overlap(weights[None])[0]
    drawn = [i for i in range(60) if weights[blocks[i]] > 0]
    neighbours = [brute_force_knn(values, k, drawn) for values in runs]
    counts = weights[blocks]
    for a in range(3):
        for b in range(3):
            expected = sum(counts[i] * len(neighbours[a][i] & neighbours[b][i]) / k for i in drawn) / sum(
                counts[i] for i in drawn)
            assert found[a, b] == pytest.approx(expected), (a, b)


def test_mutual_knn_block_sums_are_the_full_sample_overlap_block_by_block():
    rng = np.random.default_rng(8)
    base = rng.normal(size=(90, 6))
    runs = [base + noise * rng.normal(size=(90, 6)) for noise in (0.3, 0.8, 2.0)]
    blocks, k = rng.permutation(90) % 6, 5
    knn = ReplicatedKNN(runs, blocks, k)
    sums = knn.block_sums(6)
    np.testing.assert_allclose(sums.sum(-1) / (k * 90), knn.overlap(np.ones((1, 6)))[0], atol=1e-12)
    neighbours = [brute_force_knn(values, k, range(90)) for values in runs]
    in_block = [i for i in range(90) if blocks[i] == 2]
    assert sums[0, 2, 2] == sum(len(neighbours[0][i] & neighbours[2][i]) for i in in_block)


def test_calibrated_mutual_knn_replicates_vary_as_much_as_replicates_that_find_neighbours_again(tmp_path):
    """The cheap replicates (full-sample neighbours under block weights, scaled by a spread ratio
    measured on analysis.knn_bootstrap replicates) against 300 replicates that each find their
    neighbours again: the same spread pair by pair, centred on the same point estimate."""
    from homogenization.analysis.metrics.block_statistics import BlockStatistics
    from homogenization.analysis.study import Settings

    rng = np.random.default_rng(9)
    label, shared = rng.integers(0, 2, 800), rng.normal(size=(800, 6))
    for run in range(4):
        write_run(tmp_path / f"r{run}", label, label, shared + (0.6 + 0.3 * run) * rng.normal(size=(800, 6)),
                  seed=run)
    runs, _ = find_runs([tmp_path])
    stats = BlockStatistics(runs, load_outcomes(runs), Settings(bootstrap=10, knn_bootstrap=80, blocks=40))
    draws = rng.multinomial(40, np.full(40, 1 / 40), size=300).astype(float)
    upper = np.triu_indices(4, k=1)
    calibrated = stats.mutual_knn(draws)[:, upper[0], upper[1]]
    refound = stats.knn.overlap(draws)[:, upper[0], upper[1]]
    point = stats.mutual_knn(np.ones((1, 40)))[0][upper]
    assert 1.2 < stats.knn_spread() < 3                           # full-sample neighbours vary less
    np.testing.assert_allclose(calibrated.std(0), refound.std(0), rtol=0.2)
    np.testing.assert_allclose(calibrated.mean(0), point, atol=0.3 * refound.std(0).min())
    without = BlockStatistics(runs, load_outcomes(runs), Settings(bootstrap=10, knn_bootstrap=0, blocks=40))
    assert np.isnan(without.mutual_knn(draws[:3])).all()


def test_block_bootstrap_of_cka_is_centred_with_the_unit_bootstrap_spread():
    rng = np.random.default_rng(6)
    n = 600
    x = rng.normal(size=(n, 20))
    y = x @ rng.normal(size=(20, 20)) + 2 * rng.normal(size=(n, 20))
    point = linear_cka(x, y)
    unit_draws = [linear_cka(x[i], y[i]) for i in (rng.integers(0, n, n) for _ in range(200))]
    cka = BlockCKA([x, y], rng.permutation(n) % 40, 40)
    block_draws = cka.cka(rng.multinomial(40, np.full(40, 1 / 40), size=1000).astype(float))[:, 0, 1]
    assert abs(block_draws.mean() - point) < 0.2 * block_draws.std()
    assert np.mean(unit_draws) - point > 0.5 * np.std(unit_draws)  # the naive bootstrap's bias
    assert 0.7 < block_draws.std() / np.std(unit_draws) < 1.4


def test_entity_units_follow_conlleval(tmp_path):
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    gold = ["B-PER", "I-PER", "O", "B-LOC", "O", "B-LOC", "I-LOC", "O"]
    pred = ["B-PER", "I-PER", "O", "B-PER", "O", "B-LOC", "O", "B-LOC"]
    sentence = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    ids = {tag: i for i, tag in enumerate(labels)}
    for seed in (1, 2):
        write_run(tmp_path / f"r{seed}", np.array([ids[t] for t in pred]), np.array([ids[t] for t in gold]),
                  np.eye(8), seed=seed, labels=labels, sentence_id=sentence)
    runs, _ = find_runs([str(tmp_path)])
    outcomes = load_outcomes(runs, unit="entity")
    # gold entities: PER(0-1) right, LOC(3) typed wrong, LOC(5-6) span wrong
    assert outcomes.errors[0].tolist() == [False, True, True]
    assert outcomes.unit_items.tolist() == [0, 0, 1]
    f1 = task_metric(outcomes.task_counts[0].sum(0))
    assert f1 == pytest.approx(f1_score([gold[:4], gold[4:]], [pred[:4], pred[4:]]))
    words = load_outcomes(runs, unit="word")
    assert words.errors[0].tolist() == [g != p for g, p in zip(gold, pred)]


def test_a_metric_added_to_the_registry_reaches_every_table(tmp_path):
    """docs/architecture.md, "Extending: an analysis measure": one Metric in the registry, and it is
    in pairs.csv, groups.csv, the headline, the attribution, the report and the W&B summary's
    source (the headline)."""
    import pandas as pd

    from homogenization.analysis.make_report import make_report
    from homogenization.analysis.metrics.registry import METRICS, Metric, blockwise, register
    from homogenization.analysis.runs.synthetic_runs import write_run
    from homogenization.analysis.study import Settings
    from homogenization.core.run_record import read_predictions

    with pytest.raises(TypeError, match="point function is missing"):
        Metric("broken", "broken", "declared without its function", point=None)

    def both_right(stats, weights):   # the fraction of units both runs get right, block-weighted
        units = weights @ stats.units
        rate = (weights @ stats.errors.T) / units[:, None]
        both_wrong = np.einsum("abm,km->kab", stats.co_errors, weights) / units[:, None, None]
        return 1 - rate[:, :, None] - rate[:, None, :] + both_wrong

    register(Metric("both_right", "both right", "the fraction of units both runs get right.",
                    *blockwise(both_right), headline=True))
    # the guide's other case: a non-headline metric with a heatmap, its figure linked and defined
    register(Metric("both_right_map", "both right (map)", "both right, drawn runs x runs.",
                    *blockwise(both_right), heatmap=True, scale=(0.5, 1.0)))
    try:
        rng = np.random.default_rng(0)
        label = rng.integers(0, 2, 400)
        for model in ("a", "b"):
            for seed in (1, 2):
                pred = np.where(rng.random(400) < 0.2, 1 - label, label)
                write_run(tmp_path / "runs" / f"{model}{seed}", pred, label, rng.normal(size=(400, 4)),
                          model=model, seed=seed)
        analysis = make_report([str(tmp_path / "runs")], tmp_path / "report", ["model"],
                               Settings(bootstrap=50, knn_bootstrap=2, measures=[]))
        pairs = pd.read_csv(tmp_path / "report" / "pairs.csv")
        first = pairs.iloc[0]
        a, b = (read_predictions(tmp_path / "runs" / name) for name in (first.run_a, first.run_b))
        expected = np.mean((a["pred"] == a["label"]) & (b["pred"] == b["label"]))
        assert first.both_right == pytest.approx(expected)
        entry = analysis.headline["both_right"]
        assert entry["within_ci"][0] <= entry["within"] <= entry["within_ci"][1]
        assert "both_right" in set(analysis.factors.metric) and "both_right" in analysis.group_table
        report = (tmp_path / "report" / "report.md").read_text()
        assert "| both right |" in report and "the fraction of units both runs get right." in report
        assert (tmp_path / "report" / "figures" / "both_right_map.png").stat().st_size > 0
        assert "](figures/both_right_map.png)" in report
        assert ("- **both right (map)** (on a fixed scale, 0.500 to 1.000): both right, drawn runs x runs."
                in report)
        assert "both_right_map" not in analysis.headline and "both_right_map" in pairs
    finally:
        METRICS.pop("both_right")
        METRICS.pop("both_right_map")


PLUGIN = '''
"""A lab's own metric, registered from outside the package."""
import numpy as np

from homogenization.analysis.metrics.registry import Metric, blockwise, register


def both_right(stats, weights):
    units = weights @ stats.units
    rate = (weights @ stats.errors.T) / units[:, None]
    both_wrong = np.einsum("abm,km->kab", stats.co_errors, weights) / units[:, None, None]
    return 1 - rate[:, :, None] - rate[:, None, :] + both_wrong


register(Metric("lab_both_right", "both right (lab)", "the fraction of units both runs get right.",
                *blockwise(both_right), optional=True))
'''


def test_a_plugin_metric_reaches_the_tables_from_the_users_folder(tmp_path):
    """analysis.plugins=[module]: the module is imported from the working directory before the
    analysis runs, so its metric can even be asked for in analysis.measures; a missing or failing
    plugin is one line."""
    import subprocess
    import sys

    import pandas as pd

    from homogenization.analysis.runs.synthetic_runs import write_run

    (tmp_path / "lab_metrics.py").write_text(PLUGIN)
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('the lab forgot something')\n")
    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, 200)
    for seed in (1, 2, 3):
        write_run(tmp_path / "runs" / f"r{seed}", np.where(rng.random(200) < 0.2, 1 - label, label), label,
                  rng.normal(size=(200, 4)), model="m", seed=seed)

    def analyze(*extra):
        return subprocess.run([sys.executable, "-m", "homogenization.cli.analyze", "runs=runs", "out=report",
                               "bootstrap=20", "knn_bootstrap=0", *extra], cwd=tmp_path, capture_output=True,
                              text=True)

    done = analyze("plugins=[lab_metrics]", "measures=[jsd,lab_both_right]")
    assert done.returncode == 0, done.stderr[-2000:]
    pairs = pd.read_csv(tmp_path / "report" / "pairs.csv")
    a, b = (np.load(tmp_path / "runs" / name / "predictions" / "test.npz")
            for name in (pairs.run_a[0], pairs.run_b[0]))
    expected = np.mean((a["pred"] == a["label"]) & (b["pred"] == b["label"]))
    assert pairs.lab_both_right[0] == pytest.approx(expected)
    for plugin, words in (("no_such_plugin", "no such module"),
                          ("broken_plugin", "the lab forgot something")):
        done = analyze(f"plugins=[{plugin}]", "out=report2")
        output = done.stdout + done.stderr
        assert done.returncode == 2 and words in output and "Traceback" not in output, output[-2000:]
