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
