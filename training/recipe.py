"""Train one model from a composed config and write its run record.

Read top to bottom: data -> model (seeded by seed_init) -> trainer (seeded by seed_data) ->
fit -> test with the best checkpoint (the task writes predictions and representations), or for
masked-LM pretraining export the best checkpoint with save_pretrained -> run.json last.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate as hydra_instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import WandbLogger

from datamodules.tokenization import vocabulary
from homogenization.errors import UserError
from homogenization.run_record import write_run_json
from lightning_modules.checkpoint_io import SafeCheckpointIO
from training.ddp import ddp_ranks
from training.determinism import check_determinism
from training.provenance import git_commit, package_versions
from training.wandb_run import finish_wandb_runs, start_wandb_run, wandb_logger_kwargs

log = logging.getLogger(__name__)


def instantiate(node, **kwargs):
    """``hydra.utils.instantiate``, passing on a UserError from the target unwrapped."""
    try:
        return hydra_instantiate(node, **kwargs)
    except InstantiationException as error:
        cause = error.__cause__
        while cause is not None and not isinstance(cause, UserError):
            cause = cause.__cause__
        if cause is None:
            raise
        raise cause from None


def prepare_run_dir(path: str | Path) -> Path:
    run_dir = Path(path)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write_test.{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise UserError(
            f"{run_dir}: the run directory cannot be written ({error.strerror}). Choose another "
            f"with hydra.run.dir=... (or paths.log_dir=...)."
        ) from None
    return run_dir


def build_callbacks(callbacks_cfg: DictConfig, has_logger: bool) -> list[pl.Callback]:
    callbacks = []
    for name, node in (callbacks_cfg or {}).items():
        if not node:
            continue
        if name == "lr_monitor" and not has_logger:
            log.info("No logger configured: the learning-rate monitor is off.")
            continue
        callbacks.append(instantiate(node))
    return callbacks


def resolve_checkpoint(ckpt_path: str | None, run_dir: Path) -> str | None:
    last = run_dir / "checkpoints" / "last.ckpt"
    if ckpt_path is None or (ckpt_path == "auto" and not last.is_file()):
        return None
    if ckpt_path == "auto":
        log.info("Resuming from %s (left by an earlier attempt of this job)", last)
    path = last if ckpt_path in ("last", "auto") else Path(ckpt_path)
    if not path.is_file():
        raise UserError(f"ckpt_path={ckpt_path}: no checkpoint at {path}.")
    return str(path)


def check_checkpoint_fits(path: str | None, model: pl.LightningModule) -> None:
    """Refuse, with a message, a checkpoint saved by another architecture or size."""
    if path is None:
        return
    saved = SafeCheckpointIO().load_checkpoint(path, map_location="cpu")["state_dict"]
    expected = model.state_dict()
    missing = [k for k in expected if k not in saved]
    unexpected = [k for k in saved if k not in expected]
    resized = [k for k in expected if k in saved and saved[k].shape != expected[k].shape]
    if missing or unexpected or resized:
        example = (missing or unexpected or resized)[0]
        raise UserError(f"{path}: this checkpoint was saved by another model or size ({len(missing)} weights "
                        f"missing, {len(unexpected)} unexpected, {len(resized)} of another shape, e.g. "
                        f"{example}); resume it with the model config it was trained with, or set "
                        "ckpt_path=null to start fresh.")


def best_checkpoint(trainer: pl.Trainer) -> str | None:
    checkpoint = trainer.checkpoint_callback
    return (checkpoint.best_model_path or None) if checkpoint is not None else None


def test_best(trainer: pl.Trainer, model, datamodule, run_dir: Path) -> dict:
    """Classification: test the best checkpoint; the task writes predictions/representations."""
    model.record_dir = run_dir
    best = best_checkpoint(trainer)
    metrics = trainer.test(model, datamodule=datamodule, ckpt_path=best)[0]
    return {"metrics": {name: float(value) for name, value in metrics.items()},
            "checkpoint": os.path.relpath(best, run_dir) if best else None}


def export_pretrained(trainer: pl.Trainer, model, datamodule, run_dir: Path) -> dict:
    """Masked LM: load the best checkpoint, report its held-out loss, save_pretrained it."""
    best = best_checkpoint(trainer)
    metrics = trainer.validate(model, datamodule=datamodule, ckpt_path=best)[0]
    if not trainer.is_global_zero:
        return {}
    export_dir = model.export(run_dir / "pretrained", datamodule.hf_tokenizer())
    log.info("Pretrained checkpoint written to %s", export_dir)
    return {"metrics": {name: float(value) for name, value in metrics.items()},
            "checkpoint": os.path.relpath(best, run_dir) if best else None,
            "export": os.path.relpath(export_dir, run_dir)}


def torch_threads(configured: int | None) -> int:
    """``torch_threads`` if set; under the joblib launcher, the cores shared among parallel jobs."""
    if configured:
        return int(configured)
    if HydraConfig.initialized() and "Joblib" in str(HydraConfig.get().launcher.get("_target_")):
        n_jobs = HydraConfig.get().launcher.n_jobs
        cores = os.cpu_count() or 1
        return max(1, cores // (cores if n_jobs < 1 else n_jobs))
    return torch.get_num_threads()


def train(cfg: DictConfig) -> dict | None:
    """Train, test and record one run in ``cfg.paths.output_dir``; return the run record.

    With a single-node DDP trainer config, the other ranks are started here (training/ddp.py) and
    only rank 0 writes the record; other ranks return None.
    """
    started = time.time()
    run_dir = prepare_run_dir(cfg.paths.output_dir)
    torch.set_num_threads(torch_threads(cfg.get("torch_threads")))
    if cfg.get("check_determinism"):
        check_determinism(cfg, run_dir, build)
        return None
    with ddp_ranks(cfg, run_dir):
        return _train(cfg, run_dir, started)


def build_encoder(encoder_cfg: DictConfig, datamodule):
    """The encoder for a set-up datamodule's tokenizer. Encoders trained from scratch also read
    the sub-word strings (shape embedding, token dropout)."""
    from_scratch = "token_dropout" in encoder_cfg
    return instantiate(
        encoder_cfg, vocab_size=datamodule.vocab_size, pad_token_id=datamodule.pad_token_id,
        **({"vocabulary": vocabulary(datamodule.tokenizer)} if from_scratch else {}),
    )


def build(cfg: DictConfig):
    """The run's datamodule (set up for fitting), encoder and LightningModule, from its config."""
    supported = list(cfg.model.get("tasks") or [cfg.task.name])
    if cfg.task.name not in supported:
        raise UserError(f"model={cfg.model.name} cannot learn the task of data={cfg.data.name} "
                        f"({cfg.task.name}); it supports {', '.join(supported)}. Choose another model= "
                        "or data=.")
    datamodule = instantiate(
        cfg.data, tokenizer=instantiate(cfg.model.tokenizer), data_seed=cfg.seed_data
    )
    datamodule.setup("fit")
    pl.seed_everything(cfg.seed_init, workers=True)
    encoder = build_encoder(cfg.model.encoder, datamodule)
    labelled = datamodule.task != "masked_lm"
    model = instantiate(
        cfg.task.module, encoder=encoder, optimizer=instantiate(cfg.model.optimizer),
        scheduler=instantiate(cfg.model.scheduler) if cfg.model.get("scheduler") else None,
        **({"label_names": datamodule.label_names} if labelled else {}),
    )
    return datamodule, encoder, model


def _train(cfg: DictConfig, run_dir: Path, started: float) -> dict | None:
    datamodule, encoder, model = build(cfg)
    labelled = datamodule.task != "masked_lm"
    if os.environ.get("LOCAL_RANK", "0") == "0":  # DDP: ranks > 0 share rank 0's directory
        datamodule.tokenizer.save(str(run_dir / "tokenizer.json"))

    pl.seed_everything(cfg.seed_data, workers=True)
    loggers = [instantiate(node, **(wandb_logger_kwargs(cfg, run_dir) if name == "wandb" else {}))
               for name, node in (cfg.get("logger") or {}).items() if node]
    trainer: pl.Trainer = instantiate(
        cfg.trainer, callbacks=build_callbacks(cfg.callbacks, bool(loggers)),
        logger=loggers or False,
    )
    if trainer.is_global_zero:
        for logger in loggers:
            if isinstance(logger, WandbLogger):
                start_wandb_run(logger, cfg, run_dir)
    failed = True
    try:
        resume_from = resolve_checkpoint(cfg.get("ckpt_path"), run_dir)
        check_checkpoint_fits(resume_from, model)
        # torch.compile (compile=true): Lightning trains the compiled module and checkpoints the original.
        trainer.fit(torch.compile(model) if cfg.get("compile") else model, datamodule=datamodule,
                    ckpt_path=resume_from)
        outcome = (test_best if labelled else export_pretrained)(trainer, model, datamodule, run_dir)
        failed = False
    finally:
        finish_wandb_runs(loggers, failed)

    if not trainer.is_global_zero:
        return None
    checkpoint = trainer.checkpoint_callback
    if checkpoint is not None and checkpoint.best_model_score is not None:
        outcome["metrics"][f"{checkpoint.monitor}_best"] = float(checkpoint.best_model_score)
    record = {
        "status": "complete",
        "task": cfg.task.name,
        "model": cfg.model.name,
        "seed": cfg.seed,
        "seeds": {"init": cfg.seed_init, "data_order": cfg.seed_data},
        "data": {
            "name": cfg.data.name,
            "splits": {split: {"fingerprint": datamodule.fingerprints[split],
                               "size": datamodule.sizes[split],
                               "units": datamodule.units[split]}
                       for split in datamodule.fingerprints},
        },
        "labels": list(getattr(datamodule, "label_names", [])),
        **outcome,
        "backbone": getattr(encoder, "identity", None),
        "training": {"epochs": trainer.current_epoch, "steps": trainer.global_step,
                     "torch_threads": torch.get_num_threads(), "world_size": trainer.world_size},
        "config": OmegaConf.to_container(cfg, resolve=True),
        "versions": package_versions(),
        "git": git_commit(),
        "duration_s": round(time.time() - started, 3),
    }
    write_run_json(run_dir, record)
    log.info("Run record written to %s", run_dir)
    return record
