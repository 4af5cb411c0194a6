"""OmegaConf resolvers used by conf/ (registered when scripts/train.py or the tests import this).

``${unique:}`` is a short random token, fixed for the process and cached like Hydra's ``${now:}``
(Hydra copies the resolver cache into every job's config), so output directories of sweeps
started in the same second never collide.

``${cwd:}`` is the directory the command runs from (absolute): the default root of ``logs/``,
caches and generated data, so nothing is ever written inside the installed package.

``${slurm_gpus:}``, ``${slurm_cpus:}`` and ``${slurm_mem_gb:}`` derive a SLURM job's resources
from the trainer and the job's settings (conf/hydra/launcher/slurm.yaml): GPUs only when the
trainer uses GPUs (a GPU request on a CPU-only node is an sbatch error; a request of 0 GPUs leaves
the job pending), CPUs for torch's threads plus the data-loading workers, memory per task.
"""

from __future__ import annotations

import os
import uuid

from omegaconf import OmegaConf

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


RESOLVERS = {"cwd": os.getcwd, "slurm_gpus": slurm_gpus, "slurm_cpus": slurm_cpus,
             "slurm_mem_gb": slurm_mem_gb}


def register() -> None:
    if not OmegaConf.has_resolver("unique"):
        OmegaConf.register_new_resolver("unique", lambda: TOKEN, use_cache=True)
    for name, function in RESOLVERS.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, function)


register()
