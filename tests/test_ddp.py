"""Real DDP: two CPU processes over gloo, inside a real Hydra multirun."""

import subprocess
import sys

import numpy as np
import pytorch_lightning as pl
from omegaconf import OmegaConf

from homogenization.core.run_record import read_predictions, read_representations, read_run_json
from homogenization.training.recipe import build
from tests.helpers import FAST, FAST_LABELLED_DATA, REPO_ROOT, SMALL_MODELS


def test_ddp_multirun_writes_one_complete_record_per_job(tmp_path):
    log_dir, sweep_dir = tmp_path / "logs", tmp_path / "sweep"
    command = [sys.executable, "scripts/train.py", "-m", "trainer=ddp_cpu", "seed=1,2",
               f"hydra.sweep.dir={sweep_dir}", f"paths.log_dir={log_dir}",
               f"paths.cache_dir={tmp_path / 'cache'}", *FAST, *FAST_LABELLED_DATA,
               *SMALL_MODELS["cnn_lstm"], "trainer.accelerator=cpu"]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    # Exactly the two jobs' directories: no child re-ran the sweep, nothing stray anywhere.
    assert sorted(p.name for p in sweep_dir.iterdir()) == ["0-cnn_lstm-seed1", "1-cnn_lstm-seed2",
                                                          "multirun.yaml"]
    assert not log_dir.exists()
    for run_dir in sorted(sweep_dir.glob("*-seed*")):
        record = read_run_json(run_dir)
        assert record["status"] == "complete" and record["config"]["trainer"]["devices"] == 2
        predictions = read_predictions(run_dir)
        test_size = record["data"]["splits"]["test"]["size"]
        # 872 test examples over 2 ranks: the sampler pads one; every example appears once.
        assert predictions["example_id"].tolist() == list(range(test_size))
        assert len(read_representations(run_dir)) == test_size

    # Rank 0's record equals a single-process evaluation of the same checkpoint.
    run_dir = sweep_dir / "0-cnn_lstm-seed1"
    record = read_run_json(run_dir)
    cfg = OmegaConf.create(record["config"])
    cfg.paths.output_dir = str(tmp_path / "single")
    datamodule, _, model = build(cfg)
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False)
    trainer.test(model, datamodule=datamodule, ckpt_path=str(run_dir / record["checkpoint"]))
    single = model.test_rows
    np.testing.assert_array_equal(single["pred"], read_predictions(run_dir)["pred"])
    np.testing.assert_allclose(single["probs"], read_predictions(run_dir)["probs"], atol=1e-6)


def test_ddp_launch_is_decided_by_lightnings_registry_not_by_name():
    from homogenization.training.ddp import uses_ddp

    launched_here = ["ddp", "ddp_find_unused_parameters_true",
                     {"_target_": "pytorch_lightning.strategies.DDPStrategy"}]
    launched_by_lightning = ["ddp_spawn", "ddp_notebook", "fsdp", "auto", None,
                             {"_target_": "pytorch_lightning.strategies.DDPStrategy",
                              "start_method": "spawn"}]
    assert all(uses_ddp(OmegaConf.create({"strategy": s})) for s in launched_here)
    assert not any(uses_ddp(OmegaConf.create({"strategy": s})) for s in launched_by_lightning)
