"""What the project's two-stage sweepers share (``backbone_study.py``, ``scaling_study.py``): the
launcher they hand each stage to, the sweep directory they start, and the completed pretraining
record a stage-2 job is built from."""

from __future__ import annotations

from pathlib import Path

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf


class StagedSweeper(Sweeper):
    """A sweeper whose stages go, one after the other, through the configured launcher."""

    config: DictConfig | None = None
    hydra_context: HydraContext | None = None
    launcher = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def start_sweep_dir(self) -> Path:
        """The sweep directory, created, with the sweep's config saved in it (as Hydra's own
        sweepers do)."""
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        return sweep_dir


def completed_export(run_dir: Path):
    """The record of a pretraining run that completed and exported a backbone, or None."""
    from homogenization.core.run_record import read_record

    try:
        record = read_record(run_dir)
    except ValueError:
        return None
    if record is None or record.status != "complete" or not record.export:
        return None
    return record
