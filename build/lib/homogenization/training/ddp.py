"""Single-node DDP that is correct inside Hydra, including multiruns.

Lightning's ``ddp`` strategy starts the other ranks by re-running ``sys.argv``: inside a Hydra
multirun every child re-runs the whole sweep (Lightning #11300, Hydra #2070). Here the job
itself starts ranks 1..N-1 from its own resolved config (``<run dir>/.ddp/config.yaml``), with the
environment Lightning reads for externally created processes (``LOCAL_RANK``, ``WORLD_SIZE``,
``MASTER_ADDR``, ``MASTER_PORT``, ``NODE_RANK``). When the job ends, the children are awaited, the
process group is destroyed and the environment restored, so the next job of a multirun starts
clean. On SLURM (one task per device, started by srun) and under torchrun the ranks already
exist and nothing is launched.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import torch.distributed
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.strategies import DDPStrategy, StrategyRegistry

DDP_ENV = ("LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "GLOBAL_RANK",
           "PL_GLOBAL_SEED", "PL_SEED_WORKERS")
EXTERNAL_LAUNCHERS = ("LOCAL_RANK", "TORCHELASTIC_RUN_ID")


def uses_ddp(trainer_cfg: DictConfig) -> bool:
    """Whether the trainer's strategy is DDP started by re-running the script (start method
    ``popen``), the launch that breaks inside Hydra; resolved through Lightning's own strategy
    registry (a name) or the strategy's class (a ``_target_`` node)."""
    strategy = trainer_cfg.get("strategy")
    if isinstance(strategy, DictConfig):
        cls, start_method = get_class(strategy._target_), strategy.get("start_method", "popen")
    elif isinstance(strategy, str) and strategy in StrategyRegistry:
        entry = dict.__getitem__(StrategyRegistry, strategy)   # the registry's get() instantiates
        cls, start_method = entry["strategy"], entry["init_params"].get("start_method", "popen")
    else:
        return False
    return issubclass(cls, DDPStrategy) and start_method == "popen"


def _launched_elsewhere() -> bool:
    slurm_tasks = int(os.environ.get("SLURM_NTASKS", "1"))
    return any(name in os.environ for name in EXTERNAL_LAUNCHERS) or slurm_tasks > 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def ddp_ranks(cfg: DictConfig, run_dir: Path) -> Iterator[None]:
    """Start the job's other ranks (single node) for the duration of the block; clean up after."""
    devices = cfg.trainer.get("devices", 1)
    if not uses_ddp(cfg.trainer) or not isinstance(devices, int) or devices < 2 or _launched_elsewhere():
        yield
        return
    config_path = Path(run_dir) / ".ddp" / "config.yaml"
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(OmegaConf.to_yaml(cfg, resolve=True))
    saved = {name: os.environ.get(name) for name in DDP_ENV}
    shared = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": str(devices),
              "NODE_RANK": "0"}
    children = [
        subprocess.Popen([sys.executable, "-m", "homogenization.training.ddp_worker", str(config_path)],
                         env={**os.environ, **shared, "LOCAL_RANK": str(rank)})
        for rank in range(1, devices)
    ]
    os.environ.update({**shared, "LOCAL_RANK": "0"})
    failed = False
    try:
        yield
    except BaseException:
        failed = True
        raise
    finally:
        for child in children:
            if failed:
                child.terminate()
            child.wait()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    codes = [child.returncode for child in children]
    if any(codes):
        raise RuntimeError(f"DDP ranks 1..{devices - 1} exited with codes {codes}; see {run_dir}")
