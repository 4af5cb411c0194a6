"""``check_determinism=true``: train the configured run twice for a few steps, compare bitwise.

Run it once per platform (machine, GPU, library versions) before a large sweep: a seed study is
only meaningful if the same seeds give the same model. Writes ``determinism.json`` to the run
directory and no run record.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def _train_a_few_steps(cfg: DictConfig, build, steps: int) -> dict[str, torch.Tensor]:
    datamodule, _, model = build(cfg)
    pl.seed_everything(cfg.seed_data, workers=True)
    trainer = pl.Trainer(accelerator=cfg.trainer.accelerator, devices=1, precision=cfg.trainer.precision,
                         max_steps=steps, limit_val_batches=0, num_sanity_val_steps=0, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         deterministic=cfg.trainer.get("deterministic", False),
                         gradient_clip_val=cfg.trainer.get("gradient_clip_val"))
    trainer.fit(model, datamodule=datamodule)
    return {name: value.detach().cpu().clone() for name, value in model.state_dict().items()}


def check_determinism(cfg: DictConfig, run_dir: Path, build) -> dict:
    steps = int(cfg.get("determinism_steps", 10))
    first, second = (_train_a_few_steps(cfg, build, steps) for _ in range(2))
    differing = {name: float((first[name].double() - second[name].double()).abs().max())
                 for name in first if not torch.equal(first[name], second[name])}
    result = {"identical": not differing, "steps": steps, "tensors": len(first),
              "differing_tensors": differing, "accelerator": cfg.trainer.accelerator,
              "torch": torch.__version__}
    (Path(run_dir) / "determinism.json").write_text(json.dumps(result, indent=2))
    if differing:
        worst = max(differing, key=differing.get)
        log.warning("NOT deterministic: after %d steps, %d of %d weight tensors differ (largest: %s by "
                    "%.3g). Try trainer.deterministic=true.", steps, len(differing), len(first), worst,
                    differing[worst])
    else:
        log.info("Deterministic: two trainings of %d steps gave bitwise-identical weights (%d tensors).",
                 steps, len(first))
    return result
