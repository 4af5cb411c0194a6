"""Config values that the value alone shows to be wrong, checked before torch is even imported.

Each check names the key, the value and what is accepted, in one line (a UserError). Values whose
validity depends on the data or the model (``data.max_length`` against a checkpoint's positions,
an unknown Trainer argument) are checked where that is known.
"""

from __future__ import annotations

import math

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from homogenization.core.errors import UserError

SEED_KEYS = ("seed", "seed_init", "seed_data")
MAX_SEED = 2**32 - 1   # numpy's and Lightning's seed range
POSITIVE_NUMBERS = ("model.optimizer.lr",)
NON_NEGATIVE_NUMBERS = ("model.optimizer.weight_decay",)


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
    threads = _value(cfg, "torch_threads")
    if threads is not None and (not _is_int(threads) or threads < 1):
        raise UserError(f"torch_threads={threads!r}: give a positive number of threads, or null for "
                        "torch's default.")
    ckpt_path = _value(cfg, "ckpt_path")
    if ckpt_path is not None and not isinstance(ckpt_path, str):
        raise UserError(f"ckpt_path={ckpt_path!r}: choose auto, last, null or a checkpoint file path.")
