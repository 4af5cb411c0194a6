"""Layer by layer: record.layers writes one representation file per layer from every encoder, and
the analysis writes layer_pairs.csv (checked against a straightforward CKA), the layer x layer maps
and the same-layer curve with intervals, on synthetic runs whose layers converge with depth."""

import numpy as np
import pandas as pd
import pytest

from homogenization.analysis.make_report import make_report
from homogenization.analysis.runs.synthetic_runs import write_run
from homogenization.analysis.study import Settings
from homogenization.core.errors import UserError
from homogenization.core.run_record import read_representations
from homogenization.training.recipe import build, train
from tests.helpers import compose_config

RNG = np.random.default_rng(11)
N, WIDTH, DEPTH = 300, 6, 4


def reference_cka(x, y):
    x, y = x - x.mean(0), y - y.mean(0)
    return np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def converging_study(tmp_path):
    """Group a: its runs' layers share more of one latent the deeper the layer (layer 0 shares
    nothing); group b: independent runs at every layer."""
    label = RNG.integers(0, 2, N)
    shared = RNG.normal(size=(N, WIDTH))
    for group in ("a", "b"):
        for seed in (1, 2, 3):
            layers = []
            for k in range(DEPTH):
                weight = k / (DEPTH - 1) if group == "a" else 0.0
                layers.append(weight * shared + (1 - weight + 0.05) * RNG.normal(size=(N, WIDTH)))
            write_run(tmp_path / f"{group}{seed}", label, label, layers[-1], model=group, seed=seed,
                      layers=layers)


def test_layer_pairs_heatmaps_and_the_same_layer_curve(tmp_path):
    converging_study(tmp_path)
    make_report([str(tmp_path)], tmp_path / "report", ["model"], Settings(bootstrap=100, blocks=20))
    report = tmp_path / "report"
    pairs = pd.read_csv(report / "layer_pairs.csv")
    assert len(pairs) == 15 * DEPTH * DEPTH
    row = pairs[(pairs.run_a == "a1") & (pairs.run_b == "a2") & (pairs.layer_a == 3) & (pairs.layer_b == 1)]
    x = read_representations(tmp_path / "a1", layer=3)
    y = read_representations(tmp_path / "a2", layer=1)
    assert row.linear_cka.item() == pytest.approx(reference_cka(x, y), abs=1e-5)

    curves = pd.read_csv(report / "layer_curves.csv")
    a = curves[(curves.group_a == "a") & (curves.group_b == "a")].sort_values("layer")
    b = curves[(curves.group_a == "b") & (curves.group_b == "b")]
    assert list(a.layer) == list(range(DEPTH)) and (np.diff(a.linear_cka) > 0).all()   # converging
    assert a.linear_cka.iloc[-1] > 0.9 and b.linear_cka.max() < 0.2
    assert ((a.ci_low <= a.linear_cka) & (a.linear_cka <= a.ci_high)).all()
    assert a.ci_low.iloc[-1] > b.ci_high.max()                       # the difference is resolved
    assert set(zip(curves.group_a, curves.group_b)) == {("a", "a"), ("a", "b"), ("b", "b")}
    for figure in ("layer_heatmaps", "same_layer_cka"):
        assert (report / "figures" / f"{figure}.png").stat().st_size > 1000
    assert "## Layer by layer" in (report / "report.md").read_text()


@pytest.mark.parametrize("model, data, layers", [("cnn_lstm", "demo", 3), ("transformer", "demo_ner", 3)])
def test_record_layers_writes_every_layer_in_the_rows_of_the_predictions(tmp_path, model, data, layers):
    record = train(compose_config(tmp_path / "run", [f"model={model}", f"data={data}", "record.layers=all",
                                                     "model.encoder.num_layers=2"
                                                     if model == "transformer" else "seed=1"]))
    assert record["status"] == "complete" and record["test"]["layers"] == list(range(layers))
    rows = record["test"]["units_recorded"]
    shapes = [read_representations(tmp_path / "run", layer=k).shape for k in range(layers)]
    assert all(shape[0] == rows for shape in shapes)
    final = read_representations(tmp_path / "run").astype(np.float32)
    last = read_representations(tmp_path / "run", layer=layers - 1).astype(np.float32)
    np.testing.assert_allclose(last, final, atol=2e-2)     # the last layer is what the head sees


def test_layers_out_of_range_are_one_line(tmp_path):
    with pytest.raises(UserError, match=r"record\.layers: \[7\] out of range; .* has layers 0\.\.2"):
        build(compose_config(tmp_path / "run", ["record.layers=[7]"]))
