"""OmegaConf resolvers used by conf/ (registered when scripts/train.py or the tests import this).

``${unique:}`` is a short random token, fixed for the process and cached like Hydra's ``${now:}``
(Hydra copies the resolver cache into every job's config), so output directories of sweeps
started in the same second never collide.

``${cwd:}`` is the directory the command runs from (absolute): the default root of ``logs/``,
caches and generated data, so nothing is ever written inside the installed package.

``${swept_params:}`` is the job's values of the keys its sweeper searches (``hydra.sweeper.params``),
``key=value`` joined by ``,``: the readable part of an Optuna trial's directory name.

``${resumed_seed:seed,storage,study}`` is the sampler's seed for an Optuna study: ``seed`` for a new
study, ``seed`` + the number of trials already stored for a resumed one, so a resumed search draws
new points instead of replaying the first ones (a seeded sampler restarts its random stream).

``${seed_for:name,seed}`` is a seed of its own for each ``name`` (an architecture): seed k of
cnn_lstm and seed k of transformer share neither initial weights nor data order, so a study over
architectures is not confounded with data order. Stable across machines (crc32 of the name).

``${latin_square:row,column,n}`` is (row + column) mod n + 1: with row and column n consecutive
integers (seeds 1..n), every value 1..n once in each row and each column. experiment=
sources_of_variation uses it for the training subset, so three seed factors at n levels take n x n
jobs per architecture instead of n^3, and two runs share at most one of them: a fractional design
in which the attribution still estimates every factor.

``${full_precision:precision}`` is true for a trainer precision of 32 bits: AdamW is ``fused`` (one
kernel for every parameter, the Hugging Face Trainer's default) in full precision only, since
Lightning refuses gradient clipping with a fused optimizer under mixed precision (bf16-mixed, 16-mixed).

``${backbone_dir:name}`` is the folder of the pinned backbone ``name`` (``backbones.<name>``;
core/backbones.py), its weights checked against their SHA-256 first; any other value (a directory,
a hub name) is returned as it is.

``${slurm_gpus:}``, ``${slurm_cpus:}`` and ``${slurm_mem_gb:}`` derive a SLURM job's resources
from the trainer and the job's settings (conf/hydra/launcher/slurm.yaml): GPUs only when the
trainer uses GPUs (a GPU request on a CPU-only node is an sbatch error; a request of 0 GPUs leaves
the job pending), CPUs for torch's threads plus the data-loading workers, memory per task.
"""

from __future__ import annotations

import os
import uuid
import zlib

from omegaconf import OmegaConf

from homogenization.core.backbones import pinned_backbone

TOKEN = uuid.uuid4().hex[:6]


GPU_ACCELERATORS = ("gpu", "cuda")
DEFAULT_TORCH_THREADS_ON_SLURM = 1


def slurm_gpus(accelerator: str, devices) -> int | None:
    """GPUs per node: the trainer's devices when it trains on GPUs, else none requested."""
    return int(devices) if str(accelerator).lower() in GPU_ACCELERATORS else None


def slurm_cpus(torch_threads: int | None, num_workers: int | None) -> int:
    """CPUs per task: torch's threads (``torch_threads``, 1 when unset) plus the data workers."""
    return int(torch_threads or DEFAULT_TORCH_THREADS_ON_SLURM) + int(num_workers or 0)


def slurm_mem_gb(tasks_per_node, per_task_gb) -> int:
    """Memory per node: ``per_task_gb`` for each task (device) on it."""
    return int(tasks_per_node) * int(per_task_gb)


def swept_params() -> str:
    """``lr=0.0012,width=128``: the job's overrides of the keys in ``hydra.sweeper.params`` (the
    last part of each key, which keeps directory names short)."""
    from hydra.core.hydra_config import HydraConfig

    hydra = HydraConfig.get()
    searched = set((hydra.sweeper.get("params") or {}).keys())
    chosen = [override.split("=", 1) for override in hydra.overrides.task if "=" in override]
    return ",".join(f"{key.rsplit('.', 1)[-1]}={value}" for key, value in chosen
                    if key.lstrip("+~") in searched) or "defaults"


def resumed_seed(seed: int, storage: str | None, study_name: str) -> int:
    if not storage:
        return int(seed)
    import optuna

    try:
        stored = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:   # no such study yet
        return int(seed)
    return int(seed) + len(stored.trials)


def seed_for(name: str, seed: int) -> int:
    return int(seed) + 100_000 * (zlib.crc32(str(name).encode("utf-8")) % 10_000)


def checkpoint_name(name_or_path) -> str:
    """A readable name for a checkpoint: its folder's name, or a hub name's last part."""
    if name_or_path in (None, ""):
        return "finetuned"
    return os.path.basename(os.path.normpath(str(name_or_path))) or str(name_or_path)


def full_precision(precision) -> bool:
    return str(precision) in ("32", "32-true")


def latin_square(row, column, n) -> int:
    return (int(row) + int(column)) % int(n) + 1


def backbone_dir(name, *, _root_) -> str:
    pins = _root_.get("backbones")
    pinned = pinned_backbone(name, OmegaConf.to_container(pins) if pins is not None else None)
    return pinned.folder if pinned else name


RESOLVERS = {"backbone_dir": backbone_dir, "cwd": os.getcwd, "checkpoint_name": checkpoint_name,
             "seed_for": seed_for, "swept_params": swept_params, "latin_square": latin_square,
             "full_precision": full_precision,
             "resumed_seed": resumed_seed, "slurm_gpus": slurm_gpus, "slurm_cpus": slurm_cpus,
             "slurm_mem_gb": slurm_mem_gb}


def register() -> None:
    if not OmegaConf.has_resolver("unique"):
        OmegaConf.register_new_resolver("unique", lambda: TOKEN, use_cache=True)
    for name, function in RESOLVERS.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, function)


register()
