"""Train one model from a composed config and write its run record.

Read top to bottom: ``train`` takes the run directory (one job at a time), decides whether this
job resumes its own checkpoint or starts afresh, then ``_train`` builds data -> model (seeded by
seed_init) -> trainer (seeded by seed_data), fits, and lets the task finish (lightning_modules/
task.py: classification tests the best checkpoint and hands over its test rows, masked-LM
pretraining exports it); ``record_of`` writes what it produced. ``run.json`` is always last. A signal
gives an ``interrupted`` record naming the phase (``stop.phase``; during training, after a
checkpoint); a test loop that missed units, a ``partial`` one.
"""

from __future__ import annotations

import difflib
import inspect
import logging
import os
import re
import signal
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import get_class, get_object
from hydra.utils import instantiate as hydra_instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities.exceptions import SIGTERMException

from datamodules.tokenization import SavedTokenizer, vocabulary
from homogenization.core.backbones import file_sha256, pinned_backbone
from homogenization.core.errors import UserError
from homogenization.core.fingerprints import config_digest
from homogenization.core.run_record import RunRecord, atomic_write, write_record, write_test_record
from homogenization.core.signals import Stopped, StopSignals
from homogenization.training.callbacks.checkpoint_io import SafeCheckpointIO
from homogenization.training.callbacks.export_steps import ExportAtSteps
from homogenization.training.callbacks.last_checkpoint import LastCheckpoint
from homogenization.training.callbacks.preemption import TrainingInterrupted
from homogenization.training.config_checks import check_config
from homogenization.training.ddp import ddp_ranks
from homogenization.training.determinism import check_determinism
from homogenization.training.failures import write_interrupted_record
from homogenization.training.job_logger import JobLogger
from homogenization.training.provenance import git_commit, package_versions
from homogenization.training.quiet import silence_unactionable
from homogenization.training.resolvers import seed_for
from homogenization.training.resume import (
    JobIdentity,
    identity_of,
    is_launching_process,
    plan_resume,
    run_dir_lock,
)
from lightning_modules.task import Finished

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict | None:
    """Train, test and record one run in ``cfg.paths.output_dir``; return the run record.

    With a single-node DDP trainer config, the other ranks are started here (training/ddp.py) and
    only rank 0 writes the record; other ranks return None.
    """
    started = time.time()
    silence_unactionable()
    check_config(cfg)
    run_dir = prepare_run_dir(cfg.paths.output_dir)
    with run_dir_lock(run_dir), StopSignals("checking the run directory and its checkpoint") as stop:
        try:
            torch.set_num_threads(torch_threads(cfg.get("torch_threads"), cfg.data.get("num_workers") or 0))
            if cfg.get("check_determinism"):
                check_determinism(cfg, run_dir, build)
                return None
            resume_from = plan_resume(cfg, run_dir, SafeCheckpointIO().peek)
            with ddp_ranks(cfg, run_dir):
                record = _train(cfg, run_dir, started, resume_from, stop)
        except Stopped as stopped:   # before the trainer existed: the record says where it stopped
            if not stopped.recorded and is_launching_process():
                write_interrupted_record(run_dir, cfg, stopped)
            raise
    return None if record is None else record.to_dict()


def _train(cfg: DictConfig, run_dir: Path, started: float, resume_from: str | None,
           stop: StopSignals) -> RunRecord | None:
    saved_tokenizer = run_dir / "tokenizer.json"
    resumed_tokenizer = saved_tokenizer if resume_from and saved_tokenizer.is_file() else None
    stop.phase = "reading and tokenizing the data and building the model"
    datamodule, encoder, model = build(cfg, resumed_tokenizer)
    check_checkpoint_fits(resume_from, model)
    if os.environ.get("LOCAL_RANK", "0") == "0":  # DDP: ranks > 0 share rank 0's directory
        tokenizer_json = datamodule.tokenizer.to_str(pretty=True).encode("utf-8")
        atomic_write(run_dir / "tokenizer.json", lambda handle: handle.write(tokenizer_json))

    check_accelerator(cfg)
    pl.seed_everything(cfg.seed_data, workers=True)
    loggers = [instantiate(node) for node in (cfg.get("logger") or {}).values() if node]
    callbacks = build_callbacks(cfg.callbacks) + [JobIdentity(identity_of(cfg))]
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    if trainer.is_global_zero:
        for logger in loggers:
            if isinstance(logger, JobLogger):
                logger.start_job(cfg)
    outcome = "failed"
    try:
        # torch.compile (compile=true): Lightning trains the compiled module and checkpoints the original.
        if getattr(encoder, "evaluates_only", False):   # a fine-tuned checkpoint, tested as it is
            stop.phase = "testing"
            finished = model.finish(trainer, datamodule, run_dir, None)
        else:
            stop.phase = "starting training"   # then CheckpointOnSignal takes signals until training ends
            trainer.fit(torch.compile(model) if cfg.get("compile") else model, datamodule=datamodule,
                        ckpt_path=resume_from, weights_only=True)   # SafeCheckpointIO loads it so
            stop.phase = "testing"
            finished = model.finish(trainer, datamodule, run_dir, best_checkpoint(trainer))
        stop.phase = "writing the record"
        record = (record_of(finished, new_record(cfg, datamodule, encoder, trainer, started), run_dir)
                  if trainer.is_global_zero else None)
        outcome = "complete"
    except (Stopped, SIGTERMException) as stopped:
        outcome = "interrupted"
        # Lightning turns a SIGTERM outside the training steps (e.g. while testing) into a SystemExit(0).
        interruption = (stopped if isinstance(stopped, Stopped)
                        else TrainingInterrupted(signal.SIGTERM, None, trainer.global_step))
        if trainer.is_global_zero:
            record = new_record(cfg, datamodule, encoder, trainer, started, status="interrupted")
            record.error, record.signal = str(interruption), interruption.signal_name
            write_record(run_dir, record)
        interruption.recorded = True
        raise interruption from None
    finally:
        for logger in loggers:
            if isinstance(logger, JobLogger):
                logger.end_job(outcome)
    if not trainer.is_global_zero:
        return None
    log.info("Run record written to %s (status %s)", run_dir, record.status)
    return record


# -- the steps, in the order they run -----------------------------------------------------------

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


def torch_threads(configured: int | None, num_workers: int = 0) -> int:
    """``torch_threads`` if set; in a SLURM job, its CPUs less the data workers' (torch would
    otherwise start a thread per core of the whole node); under a launcher that runs ``n_jobs``
    jobs at once on this machine (joblib), the machine's cores shared among them; else torch's
    default."""
    if configured:
        return int(configured)
    if os.environ.get("SLURM_CPUS_PER_TASK"):
        return max(1, int(os.environ["SLURM_CPUS_PER_TASK"]) - num_workers)
    n_jobs = HydraConfig.get().launcher.get("n_jobs") if HydraConfig.initialized() else None
    if n_jobs:
        cores = os.cpu_count() or 1
        return max(1, cores // (cores if n_jobs < 1 else n_jobs))
    return torch.get_num_threads()


def build(cfg: DictConfig, saved_tokenizer: Path | None = None):
    """The run's datamodule (set up for fitting), encoder and LightningModule, from its config;
    with ``saved_tokenizer`` (a resumed run's own), that tokenizer instead of a new one."""
    supported = list(cfg.model.get("tasks") or [cfg.task.name])
    if cfg.task.name not in supported:
        raise UserError(f"model={cfg.model.name} cannot learn the task of data={cfg.data.name} "
                        f"({cfg.task.name}); it supports {', '.join(supported)}. Choose another model= "
                        "or data=.")
    tokenizer = instantiate(cfg.model.tokenizer)
    if saved_tokenizer is not None:
        tokenizer = SavedTokenizer(saved_tokenizer, saved_from=tokenizer)
    datamodule = instantiate(cfg.data, tokenizer=tokenizer, data_seed=cfg.seed_data)
    datamodule.setup("fit")
    pl.seed_everything(init_stream(cfg), workers=True)
    encoder = build_encoder(cfg.model.encoder, cfg.task, datamodule)
    model = instantiate(
        cfg.task.module, encoder=encoder, optimizer=instantiate(cfg.model.optimizer),
        scheduler=instantiate(cfg.model.scheduler) if cfg.model.get("scheduler") else None,
        **datamodule.task_arguments(),
    )
    return datamodule, encoder, model


def init_stream(cfg: DictConfig) -> int:
    """The seed of a run's initial weights: ``seed_init`` and the architecture (``model.name``)
    together, so two architectures given one ``seed_init`` share no initial weights (a CNN-LSTM's
    and a transformer's embedding matrices drawn from one stream were the same matrix, and their
    agreement read as an effect of "the same initial weights")."""
    return seed_for(cfg.model.name, cfg.seed_init) % 2**32


def build_encoder(encoder_cfg: DictConfig, task_cfg: DictConfig, datamodule):
    """The encoder for a set-up datamodule's tokenizer. What the encoder's class declares it
    needs is passed too: the sub-word strings (``needs_vocabulary``) and the task's settings of
    its ``task_features`` (``task.encoder.<feature>``) that the model config does not set."""
    encoder_class = get_object(encoder_cfg._target_)
    features = {name: task_cfg.encoder[name] for name in getattr(encoder_class, "task_features", ())
                if name not in encoder_cfg}
    if getattr(encoder_class, "needs_vocabulary", False):
        features["vocabulary"] = vocabulary(datamodule.tokenizer)
    if getattr(encoder_class, "needs_labels", False):
        features.update(label_names=list(datamodule.label_names), task=task_cfg.name)
    return instantiate(encoder_cfg, vocab_size=datamodule.vocab_size, pad_token_id=datamodule.pad_token_id,
                       **features)


def check_checkpoint_fits(path: str | None, model: pl.LightningModule) -> None:
    """Refuse, with a message, a checkpoint saved by another architecture or size."""
    if path is None:
        return
    saved = SafeCheckpointIO().peek(path)["state_dict"]
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


def check_accelerator(cfg: DictConfig) -> None:
    """A GPU asked for where none is visible is one line, not Lightning's traceback."""
    accelerator = str(OmegaConf.select(cfg, "trainer.accelerator", default="auto")).lower()
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise UserError(f"trainer.accelerator={accelerator}: no GPU is visible here (torch sees no CUDA "
                        "device); use trainer.accelerator=cpu (or auto), or run where a GPU is.")
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise UserError("trainer.accelerator=mps: Apple's MPS is not available here; use "
                        "trainer.accelerator=cpu.")


def build_callbacks(callbacks_cfg: DictConfig) -> list[pl.Callback]:
    """Every ``callbacks.<name>`` that is not null, ``last.ckpt``'s writer last: it saves the
    state the others reached at the same step (last_checkpoint.py)."""
    callbacks = [instantiate(node) for node in (callbacks_cfg or {}).values() if node]
    return sorted(callbacks, key=lambda callback: isinstance(callback, LastCheckpoint))


def new_record(cfg: DictConfig, datamodule, encoder, trainer: pl.Trainer, started: float,
               status: str = "complete") -> RunRecord:
    """The record of this job as it stands; the finish step adds metrics and test outputs."""
    config = OmegaConf.to_container(cfg, resolve=True)
    evaluated = bool(getattr(encoder, "evaluates_only", False))   # tested as it is, not trained here
    metrics = {}
    checkpoint = trainer.checkpoint_callback
    if checkpoint is not None and checkpoint.best_model_score is not None:
        metrics[f"{checkpoint.monitor}_best"] = float(checkpoint.best_model_score)
    return RunRecord(
        status=status, task=cfg.task.name, model=cfg.model.name, seed=cfg.seed,
        seeds={"init": cfg.seed_init, "init_stream": init_stream(cfg), "data_order": cfg.seed_data},
        data={"name": cfg.data.name, **datamodule.data_report()},
        labels=list(getattr(datamodule, "label_names", [])),
        metrics=metrics,
        backbone=backbone_record(cfg, encoder),
        exports=next((cb.exports() for cb in trainer.callbacks if isinstance(cb, ExportAtSteps)), {}) or None,
        training={"epochs": trainer.current_epoch, "steps": trainer.global_step,
                  "parameters": sum(p.numel() for p in encoder.parameters()),
                  "untrained": trainer.global_step == 0 and not evaluated, "evaluated": evaluated,
                  "torch_threads": torch.get_num_threads(), "world_size": trainer.world_size,
                  "precision": str(trainer.precision)},      # what ran (bf16-mixed, 32-true, ...)
        config=config, config_digest=config_digest(identity_of(cfg)),
        versions=package_versions(), git=git_commit(), duration_s=round(time.time() - started, 3),
    )


def backbone_record(cfg: DictConfig, encoder) -> dict | None:
    """The encoder's backbone identity; for a pinned backbone (``backbone=minilm``) also its name,
    its source (package and version, hub id and revision, or path) and the weights file's SHA-256;
    for a local directory with one weights file, that file's SHA-256. A random-init run records no
    weights hash of the checkpoint: it loaded only its config and tokenizer."""
    identity = getattr(encoder, "identity", None)
    if identity is None:
        return None
    pins = cfg.get("backbones")
    pinned = pinned_backbone(cfg.get("backbone"), OmegaConf.to_container(pins) if pins is not None else None)
    if identity.get("init") == "random":   # its weights were drawn here: only the config and tokenizer came
        return {**identity, **({"name": pinned.name, "source": pinned.source} if pinned else {})}
    if pinned is not None and identity.get("pretrained") == pinned.folder:
        return {**identity, **pinned.record()}
    weights = Path(str(identity.get("pretrained", ""))) / "model.safetensors"
    return {**identity, "weights_sha256": file_sha256(weights)} if weights.is_file() else identity


def best_checkpoint(trainer: pl.Trainer) -> str | None:
    checkpoint = trainer.checkpoint_callback
    return (checkpoint.best_model_path or None) if checkpoint is not None else None


def record_of(finished: Finished, record: RunRecord, run_dir: Path) -> RunRecord:
    """Complete ``record`` with what the task's finish step produced and write it (rank 0): test
    rows go through write_test_record's checks; a task without test rows writes run.json alone."""
    record.metrics.update(finished.metrics)
    record.checkpoint = os.path.relpath(finished.checkpoint, run_dir) if finished.checkpoint else None
    record.export = os.path.relpath(finished.export, run_dir) if finished.export else None
    for name, text in finished.files.items():
        atomic_write(run_dir / name, lambda handle, text=text: handle.write(text.encode("utf-8")))
    if finished.test_rows is None:
        write_record(run_dir, record)
        return record
    return write_test_record(run_dir, record, finished.test_rows, finished.key_columns,
                             finished.expected_units, finished.test_texts)


# -- instantiation with one-line errors ------------------------------------------------------------

UNEXPECTED_KEYWORD = re.compile(r"unexpected keyword argument '(\w+)'")


def instantiate(node, **kwargs):
    """``hydra.utils.instantiate``, passing on a UserError from the target unwrapped, and naming
    the config key of an argument the target does not take."""
    try:
        return hydra_instantiate(node, **kwargs)
    except InstantiationException as error:
        cause = error.__cause__
        while cause is not None and not isinstance(cause, UserError):
            unknown = UNEXPECTED_KEYWORD.search(str(cause)) if isinstance(cause, TypeError) else None
            if unknown and isinstance(node, DictConfig):
                raise unknown_argument(node, unknown.group(1)) from None
            cause = cause.__cause__
        if cause is None:
            raise
        raise cause from None


def unknown_argument(node: DictConfig, name: str) -> UserError:
    prefix = node._get_full_key(None)
    key = f"{prefix}.{name}" if prefix else name
    try:
        accepted = list(inspect.signature(get_class(node._target_)).parameters)
    except Exception:
        accepted = []
    close = difflib.get_close_matches(name, accepted, n=1)
    hint = f"did you mean {prefix + '.' if prefix else ''}{close[0]}? " if close else ""
    return UserError(f"{key}: {node._target_.rsplit('.', 1)[-1]} takes no argument '{name}'; {hint}"
                     f"remove it (++{key}=... adds a key that must exist).")
