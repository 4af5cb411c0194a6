"""check_determinism=true reports identical weights on CPU, and names what differs when not."""

import json
import subprocess
import sys

import torch

from homogenization.training.determinism import check_determinism
from homogenization.training.recipe import build
from tests.helpers import FAST_LABELLED_DATA, REPO_ROOT, SMALL_MODELS, compose_config


def test_check_determinism_command_reports_identical_weights(tmp_path):
    run_dir = tmp_path / "check"
    result = subprocess.run(
        [sys.executable, "scripts/train.py", "check_determinism=true", "determinism_steps=4",
         f"hydra.run.dir={run_dir}", f"paths.cache_dir={tmp_path / 'cache'}", "trainer.accelerator=cpu",
         *FAST_LABELLED_DATA, *SMALL_MODELS["transformer"], "model=transformer"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((run_dir / "determinism.json").read_text())
    assert report["identical"] and report["steps"] == 4 and report["tensors"] > 5
    assert "bitwise-identical" in result.stdout + result.stderr
    assert not (run_dir / "run.json").exists()


def test_check_determinism_names_the_tensors_that_differ(tmp_path):
    cfg = compose_config(tmp_path / "run", ["determinism_steps=2"])
    calls = []

    def build_with_a_perturbed_second_model(config):
        datamodule, encoder, model = build(config)
        calls.append(1)
        if len(calls) == 2:
            with torch.no_grad():
                next(model.head.parameters()).add_(1e-3)
        return datamodule, encoder, model

    (tmp_path / "run").mkdir()
    report = check_determinism(cfg, tmp_path / "run", build_with_a_perturbed_second_model)
    assert not report["identical"]
    assert any(name.startswith("head.") for name in report["differing_tensors"])


def test_two_architectures_given_one_seed_init_share_no_initial_weights(tmp_path):
    """seed_init is mixed with the architecture: a CNN-LSTM and a transformer of the same embedding
    shape, one seed_init, have no parameter tensor in common (no correlation between same-shaped
    tensors), while one architecture built twice with it is the same."""
    import numpy as np

    from homogenization.training.recipe import build
    from tests.helpers import compose_config

    def weights(model: str, run: str) -> dict:
        cfg = compose_config(tmp_path / run, [f"model={model}", "seed_init=7", "seed_data=7"])
        return {name: p.detach().flatten().numpy() for name, p in build(cfg)[2].named_parameters()
                if p.numel() >= 64}

    cnn, transformer, again = weights("cnn_lstm", "a"), weights("transformer", "b"), weights("cnn_lstm", "c")
    assert all(np.array_equal(cnn[name], again[name]) for name in cnn)
    pairs = [(a, b) for a in cnn for b in transformer if cnn[a].shape == transformer[b].shape]
    assert pairs, "no tensors of one shape to compare"
    for a, b in pairs:
        x, y = cnn[a], transformer[b]
        if x.std() > 0 and y.std() > 0:   # independent draws: |r| within 4 standard errors of 0
            assert abs(np.corrcoef(x, y)[0, 1]) < 4 / np.sqrt(len(x)), (a, b)
    assert any("embedding" in a and "embedding" in b for a, b in pairs)   # the matrices that were shared
