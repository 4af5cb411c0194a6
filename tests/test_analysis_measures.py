"""The further pairwise measures (homogenization/measures.py), each checked against an independent
straightforward implementation on random data and against a value known in closed form, and
end to end through the report's pairs.csv."""

import numpy as np
import pandas as pd
import pytest
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.distance import jensenshannon
from scipy.stats import ortho_group, spearmanr

from homogenization.analysis.make_report import make_report
from homogenization.analysis.metrics import measures
from homogenization.analysis.metrics.agreement import jensen_shannon_rows
from homogenization.analysis.metrics.registry import METRICS, optional
from homogenization.analysis.random_streams import stream
from homogenization.analysis.runs.synthetic_runs import write_run
from homogenization.analysis.study import Settings
from homogenization.core.errors import UserError

RNG = np.random.default_rng(7)


def pair_of(x, y, rsa_rows=None):
    return measures.Pair(measures.prepare(x, rsa_rows), measures.prepare(y, rsa_rows))


def correlated(n=300, h=12, g=9, shared=5, noise=0.5):
    """Two representations sharing ``shared`` latent directions, with noise and different widths."""
    z = RNG.normal(size=(n, shared))
    x = z @ RNG.normal(size=(shared, h)) + noise * RNG.normal(size=(n, h))
    y = z @ RNG.normal(size=(shared, g)) + noise * RNG.normal(size=(n, g))
    return x, y


# -- independent reference implementations -----------------------------------------------------------

def reference_procrustes(x, y):
    x = x - x.mean(0)
    y = y - y.mean(0)
    x, y = x / np.linalg.norm(x), y / np.linalg.norm(y)
    width = max(x.shape[1], y.shape[1])
    x = np.pad(x, ((0, 0), (0, width - x.shape[1])))
    y = np.pad(y, ((0, 0), (0, width - y.shape[1])))
    _, nuclear = orthogonal_procrustes(x, y)      # scale = sum of singular values of x^T y
    return np.arccos(min(nuclear, 1.0))


def reduce99(x):
    x = x - x.mean(0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    k = int(np.argmax(np.cumsum(s**2) / (s**2).sum() >= 0.99)) + 1
    return u[:, :k] * s[:k]


def reference_cca(x, y):
    """Canonical correlations and x's canonical variates from the eigenproblem
    Sxx^-1 Sxy Syy^-1 Syx a = rho^2 a."""
    sxx, syy, sxy = x.T @ x, y.T @ y, x.T @ y
    values, vectors = np.linalg.eig(np.linalg.solve(sxx, sxy) @ np.linalg.solve(syy, sxy.T))
    order = np.argsort(-values.real)[: min(x.shape[1], y.shape[1])]
    rho = np.sqrt(np.clip(values.real[order], 0, 1))
    variates = x @ vectors.real[:, order]
    return rho, variates / np.linalg.norm(variates, axis=0)


def reference_svcca(x, y):
    return reference_cca(reduce99(x), reduce99(y))[0].mean()


def reference_pwcca(x, y):
    def one_way(a, b):
        rho, variates = reference_cca(reduce99(a), reduce99(b))
        weights = np.abs(variates.T @ (a - a.mean(0))).sum(axis=1)
        return (weights * rho).sum() / weights.sum()
    return (one_way(x, y) + one_way(y, x)) / 2


def reference_rsa(x, y):
    upper = np.triu_indices(len(x), 1)
    return spearmanr((1 - np.corrcoef(x))[upper], (1 - np.corrcoef(y))[upper]).statistic


# -- agreement with the references on random data ---------------------------------------------------

def test_representation_measures_agree_with_independent_implementations():
    x, y = correlated()
    pair = pair_of(x, y, np.arange(120))
    assert measures.procrustes(pair) == pytest.approx(reference_procrustes(x, y), abs=1e-9)
    assert measures.svcca(pair) == pytest.approx(reference_svcca(x, y), abs=1e-7)
    assert measures.pwcca(pair) == pytest.approx(reference_pwcca(x, y), abs=1e-7)
    assert measures.rsa(pair) == pytest.approx(reference_rsa(x[:120], y[:120]), abs=1e-9)
    assert 0 < measures.svcca(pair) < 1 and 0 < measures.procrustes(pair) < np.pi / 2
    # PWCCA's two directions differ: the measure is their mean, whichever run comes first.
    assert measures.pwcca(pair_of(y, x)) == pytest.approx(measures.pwcca(pair), abs=1e-12)


@pytest.mark.parametrize("units, widths, decades",
                         [(300, (40, 30), 3), (60, (90, 70), 2), (500, (64, 64), 8), (50, (20, 120), 3)])
def test_measures_hold_for_ill_conditioned_and_wider_than_long_representations(units, widths, decades):
    """The measures come from each run's covariance eigendecomposition (measures.py): variances
    spanning ``decades`` x 2 orders of magnitude, and more dimensions than units (decomposed
    through their N x N Gram, also paired with a narrow run), still agree with the references'
    SVDs."""
    latent = RNG.normal(size=(units, 6))
    x, y = ((latent @ RNG.normal(size=(6, w)) + 0.3 * RNG.normal(size=(units, w)))
            * np.logspace(0, -decades, w) for w in widths)
    pair = pair_of(x, y)
    for run, width in zip((pair.a, pair.b), widths):
        assert run.values.shape == (units, min(units, width))  # a wide run's products are N x N
    assert measures.procrustes(pair) == pytest.approx(reference_procrustes(x, y), abs=1e-9)
    assert measures.svcca(pair) == pytest.approx(reference_svcca(x, y), abs=1e-9)
    assert measures.pwcca(pair) == pytest.approx(reference_pwcca(x, y), abs=1e-9)


def test_svcca_says_when_the_kept_subspaces_cannot_help_but_meet(caplog):
    """Kept subspaces of k_a + k_b > N - 1 dimensions (of N centred units) share at least
    k_a + k_b - (N - 1) directions: that many canonical correlations are 1 for unrelated runs, and
    the analysis says so; with enough units it says nothing."""
    unrelated = [RNG.normal(size=(40, 60)) for _ in range(3)]
    pair = pair_of(*unrelated[:2])
    rho = pair.canonical[0].numpy()
    assert pair.forced_correlations > 0 and (rho > 1 - 1e-9).sum() == pair.forced_correlations
    with caplog.at_level("WARNING"):
        measures.pairwise(asked("rsa"), unrelated, rsa_max_units=20, seed=0)
        assert "canonical correlations are 1" not in caplog.text  # no CCA was asked for
        measures.pairwise(asked("svcca", "rsa"), unrelated, rsa_max_units=20, seed=0)
        assert "svcca: in 3 of 3 pairs" in caplog.text and "the 40 units" in caplog.text
        caplog.clear()
        narrow = [RNG.normal(size=(400, 10)) for _ in range(3)]
        assert pair_of(*narrow[:2]).forced_correlations == 0
        measures.pairwise(asked("svcca", "pwcca"), narrow, rsa_max_units=20, seed=0)
        assert "canonical correlations are 1" not in caplog.text


def asked(*names: str) -> dict:
    """The registry's representation measures (``pair_function``), all or those named."""
    return {m.name: m.pair_function for m in METRICS.values()
            if m.pair_function is not None and (not names or m.name in names)}


def test_a_study_streamed_in_tiles_gives_every_pair_its_own_value(monkeypatch):
    """``pairwise`` prepares the runs of a tile (two chunks of runs) at a time (here chunks of one
    or two runs): every pair, whichever tile it is in, has the value of that pair alone,
    symmetric, NaN on the diagonal; runs of different widths, and one wider than it has units."""
    from homogenization.analysis.metrics import gram_tiles as pair_work

    latent = RNG.normal(size=(60, 5))
    runs = [latent @ RNG.normal(size=(5, width)) + 0.5 * RNG.normal(size=(60, width))
            for width in (4, 7, 7, 90, 3)]
    names = list(asked())
    whole = measures.pairwise(asked(), runs, rsa_max_units=40, seed=3)
    run_bytes = measures.prepared_bytes(60, 90, 40)  # the widest run's
    for per_chunk in (1, 2):
        monkeypatch.setattr(pair_work, "TILE_BYTES", per_chunk * run_bytes)
        assert len(pair_work.chunks_of_runs(len(runs), run_bytes, multiple=1)) == -(-len(runs) // per_chunk)
        tiled = measures.pairwise(asked(), runs, rsa_max_units=40, seed=3)
        for name in names:
            np.testing.assert_allclose(tiled[name], whole[name], rtol=0, atol=1e-12)
    rsa_rows = np.sort(stream(3, "rsa").choice(60, 40, replace=False))
    for a, b in [(0, 1), (1, 3), (4, 2)]:
        pair = pair_of(runs[a], runs[b], rsa_rows)
        for name in names:
            expected = METRICS[name].pair_function(pair)
            assert whole[name][a, b] == whole[name][b, a] == pytest.approx(expected, abs=1e-9)
    for name in names:
        assert np.isnan(np.diag(whole[name])).all() and np.isfinite(whole[name][~np.eye(5, dtype=bool)]).all()
    assert whole["procrustes"][1, 3] == pytest.approx(reference_procrustes(runs[1], runs[3]), abs=1e-9)


def test_prediction_measures_agree_with_scipy():
    p, q = RNG.dirichlet(np.ones(4), 200), RNG.dirichlet(np.ones(4), 200)
    q[:10] = np.eye(4)[RNG.integers(0, 4, 10)]          # zeros, where 0 log 0 = 0 matters
    expected = np.mean([jensenshannon(pi, qi, base=2) ** 2 for pi, qi in zip(p, q)])
    assert jensen_shannon_rows(p, q).mean() == pytest.approx(expected, abs=1e-12)


# -- values known in closed form ---------------------------------------------------------------------

def test_closed_form_values():
    x = RNG.normal(size=(200, 6))
    rotated = 3.0 * x @ ortho_group.rvs(6, random_state=1) + 5.0     # rotation, scale, shift
    same = pair_of(x, rotated, np.arange(50))
    assert measures.procrustes(same) == pytest.approx(0.0, abs=1e-6)
    assert measures.svcca(same) == pytest.approx(1.0, abs=1e-9)
    assert measures.pwcca(same) == pytest.approx(1.0, abs=1e-9)
    assert measures.rsa(pair_of(x, 2.0 * x + 1.0, np.arange(50))) == pytest.approx(1.0)

    # Orthogonal column spaces: X^T Y = 0, so the shape distance is pi/2 and no correlation exists.
    columns = RNG.normal(size=(200, 8))
    basis = np.linalg.qr(columns - columns.mean(0))[0]      # orthonormal and centred
    left, right = basis[:, :4], basis[:, 4:]
    assert measures.procrustes(pair_of(left, right)) == pytest.approx(np.pi / 2, abs=1e-6)
    # Sharing 2 of 4 orthonormal directions: canonical correlations (1, 1, 0, 0), mean 1/2.
    shared = np.hstack([basis[:, :2], basis[:, 2:4]]), np.hstack([basis[:, :2], basis[:, 4:6]])
    assert measures.svcca(pair_of(*shared)) == pytest.approx(0.5, abs=1e-9)

    one_hot = np.eye(3)
    assert jensen_shannon_rows(one_hot, one_hot).mean() == 0.0
    assert jensen_shannon_rows(one_hot, one_hot[[1, 2, 0]]).mean() == pytest.approx(1.0)   # disjoint supports


# -- end to end ----------------------------------------------------------------------------------------

def test_measures_are_columns_of_pairs_csv_and_unknown_ones_refused(tmp_path):
    n = 300
    label = RNG.integers(0, 2, n)
    latent = RNG.normal(size=(n, 4))
    for group in ("a", "b"):
        for seed in (1, 2, 3):
            probs = RNG.dirichlet(np.ones(2), n)
            write_run(tmp_path / f"{group}{seed}", probs.argmax(1), label,
                      latent @ RNG.normal(size=(4, 8)) + 0.3 * RNG.normal(size=(n, 8)),
                      model=group, seed=seed, probs=probs)
    make_report([str(tmp_path)], tmp_path / "report", ["model"],
                Settings(bootstrap=20, measures=optional(), rsa_max_units=100))
    pairs = pd.read_csv(tmp_path / "report" / "pairs.csv")
    assert len(pairs) == 15 and set(optional()) <= set(pairs.columns)
    assert pairs["procrustes"].between(0, np.pi / 2).all() and pairs["jsd"].between(0, 1).all()
    assert pairs[["svcca", "pwcca", "rsa"]].notna().all().all()
    with pytest.raises(UserError, match=r"analysis\.measures: cka2 unknown; choose from procrustes"):
        Settings(measures=["jsd", "cka2"])
