"""Config values that the value alone shows to be wrong, checked before torch is even imported.

Each check names the key, the value and what is accepted, in one line (a UserError). Values whose
validity depends on the data or the model (``data.max_length`` against a checkpoint's positions,
an unknown Trainer argument) are checked where that is known.
"""

from __future__ import annotations

import math

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError, OmegaConfBaseException

from homogenization.core.errors import UserError

SEED_KEYS = ("seed", "seed_init", "seed_data")
MAX_SEED = 2**32 - 1   # numpy's and Lightning's seed range
POSITIVE_NUMBERS = ("model.optimizer.lr",)
# Trainer arguments whose value alone can be wrong: (key, smallest whole number, what null means or
# None when null is not allowed). Lightning checks them late, with a traceback, or not at all.
TRAINER_COUNTS = (("trainer.max_epochs", 1, None), ("trainer.min_epochs", 0, "no minimum"),
                  ("trainer.check_val_every_n_epoch", 1, "validate on val_check_interval only"),
                  ("trainer.log_every_n_steps", 1, None), ("trainer.num_sanity_val_steps", -1, None),
                  ("trainer.num_nodes", 1, None), ("trainer.accumulate_grad_batches", 1, None))
# null, a whole number of batches (>= 0), or a fraction in [0, 1]
TRAINER_LIMITS = ("trainer.limit_train_batches", "trainer.limit_val_batches", "trainer.limit_test_batches")
NON_NEGATIVE_NUMBERS = ("model.optimizer.weight_decay",)
# Lightning's precisions (as strings: Hydra reads 32 as a number)
PRECISIONS = ("32-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true", "transformer-engine",
              "transformer-engine-float16", "32", "16", "64", "bf16")
# Switches: a string such as "maybe" or "off" is truthy in Python and would switch them on.
BOOLEANS = ("check_determinism", "compile", "record.every_epoch", "trainer.enable_progress_bar",
            "trainer.enable_model_summary")


def _value(cfg: DictConfig, key: str):
    try:
        return OmegaConf.select(cfg, key, throw_on_missing=True)
    except OmegaConfBaseException as error:
        raise UserError(f"{key}: {str(error).splitlines()[0]}") from None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_config(cfg: DictConfig) -> None:
    check_backbone(cfg)   # first: anything that resolves the config would resolve the backbone too
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise UserError(f"{', '.join(missing)}: no value given (??? in the config); set "
                        f"{'them' if len(missing) > 1 else 'it'} on the command line, e.g. {missing[0]}=...")
    for key in SEED_KEYS:
        value = _value(cfg, key)
        if not _is_int(value) or not 0 <= value <= MAX_SEED:
            raise UserError(f"{key}={value!r}: a seed must be a whole number from 0 to {MAX_SEED} "
                            f"(e.g. {key}=1).")
    for key in POSITIVE_NUMBERS:
        value = _value(cfg, key)
        if value is not None and (not _is_number(value) or not math.isfinite(value) or value <= 0):
            raise UserError(f"{key}={value!r}: must be a positive finite number (e.g. {key}=1e-3).")
    for key in NON_NEGATIVE_NUMBERS:
        value = _value(cfg, key)
        if value is not None and (not _is_number(value) or not math.isfinite(value) or value < 0):
            raise UserError(f"{key}={value!r}: must be a finite number >= 0.")
    for key in BOOLEANS:
        value = OmegaConf.select(cfg, key, default=None)
        if value is not None and not isinstance(value, bool):
            raise UserError(f"{key}={value!r}: give true or false.")
    threads = _value(cfg, "torch_threads")
    if threads is not None and (not _is_int(threads) or threads < 1):
        raise UserError(f"torch_threads={threads!r}: give a positive number of threads, or null for "
                        "torch's default.")
    check_trainer(cfg)
    steps = OmegaConf.select(cfg, "record.export_steps", default=None)
    if steps is not None and (not OmegaConf.is_list(steps) or not all(_is_int(s) and s > 0 for s in steps)):
        shown = OmegaConf.to_container(steps) if OmegaConf.is_config(steps) else steps
        raise UserError(f"record.export_steps={shown!r}: "
                        "give a list of optimizer steps >= 1, e.g. record.export_steps=[200,400], or [].")
    ckpt_path = _value(cfg, "ckpt_path")
    if ckpt_path is not None and not isinstance(ckpt_path, str):
        raise UserError(f"ckpt_path={ckpt_path!r}: choose auto, last, null or a checkpoint file path.")


def check_backbone(cfg: DictConfig) -> None:
    """The backbone a model loads (``model.pretrained``; ``${backbone_dir:...}`` locates a pinned
    one and hashes its weights) is resolved here, before anything loads it: a missing or damaged
    pinned file is one line, and nothing is trained. Models without a backbone skip this."""
    try:
        OmegaConf.select(cfg, "model.pretrained", default=None)
    except InterpolationResolutionError as error:
        cause = error   # OmegaConf re-raises inside its handler: the resolver's error is a __context__
        while cause is not None and not isinstance(cause, UserError):
            cause = cause.__cause__ or cause.__context__
        if cause is None:
            raise
        raise cause from None


def check_trainer(cfg: DictConfig) -> None:
    """The Trainer's counts and limits, each in one line (``trainer.max_epochs=-1``, Lightning's
    endless training, is refused unless ``trainer.max_steps`` bounds it)."""
    if OmegaConf.select(cfg, "trainer") is None:
        return
    max_steps = OmegaConf.select(cfg, "trainer.max_steps", default=-1)
    for key, least, null in TRAINER_COUNTS:
        value = OmegaConf.select(cfg, key, default=None)
        if value is None and (null is not None or key not in _keys(cfg)):
            continue
        if key == "trainer.max_epochs" and value == -1 and _is_int(max_steps) and max_steps > 0:
            continue
        if not _is_int(value) or value < least:
            allowed = f"a whole number >= {least}" + (f", or null ({null})" if null else "")
            endless = (" (-1 trains forever unless trainer.max_steps is set)"
                       if key == "trainer.max_epochs" else "")
            raise UserError(f"{key}={value!r}: must be {allowed}{endless}.")
    if not _is_int(max_steps) or max_steps < -1:
        raise UserError(f"trainer.max_steps={max_steps!r}: must be -1 (no limit) or a whole number >= 0.")
    precision = _value(cfg, "trainer.precision")
    if precision is not None and str(precision) not in PRECISIONS:
        raise UserError(f"trainer.precision={precision!r}: choose one of {', '.join(PRECISIONS)} (model=bert "
                        "sets it through model.precision on the CPU trainers).")
    clip = OmegaConf.select(cfg, "trainer.gradient_clip_val", default=None)
    if clip is not None and (not _is_number(clip) or not math.isfinite(clip) or clip < 0):
        raise UserError(f"trainer.gradient_clip_val={clip!r}: give a gradient norm > 0, or 0 or null for no "
                        "clipping (a negative norm would flip the gradients' sign).")
    for key in TRAINER_LIMITS:
        value = OmegaConf.select(cfg, key, default=None)
        if value is None:
            continue
        whole = _is_int(value) and value >= 0
        fraction = isinstance(value, float) and 0.0 <= value <= 1.0
        if not (whole or fraction):
            raise UserError(f"{key}={value!r}: give null (every batch), a number of batches >= 0, or a "
                            "fraction from 0.0 to 1.0.")


def _keys(cfg: DictConfig) -> set[str]:
    return {f"trainer.{key}" for key in cfg.trainer}
