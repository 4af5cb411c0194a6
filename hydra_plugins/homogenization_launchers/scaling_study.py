"""``experiment=scaling_study``: does homogenization grow with scale? One sweep, two stages.

Stage 1 pretrains a backbone per size preset (``sizes``, conf/model/size) and pretraining seed
(1..``pretrain_seeds``), each also exported after the ``budgets`` steps (``record.export_steps``:
checkpoints of one run, PolyPythias-style), and, beside them, trains the from-scratch models of the
data-size axis: ``scratch`` overrides at each training fraction (``fractions``) with ``seeds``
seeds. Stage 2 fine-tunes every export of every complete pretraining run with ``seeds`` seeds (the
``finetune`` overrides, then the size's own in ``finetune_by_size``, e.g. its learning rate), and
every checkpoint of ``checkpoints`` (hub names or save_pretrained directories: a ladder pretrained
elsewhere, such as the 24 BERTs of Turc et al. 2019) as it is, beside or instead of the sizes.

Every job carries what the analysis needs to read the axes, and lands in its arm's folder:

- ``study_arm``: ``pretrain``, ``finetune`` or ``scratch`` (the folder of the sweep directory);
- fine-tuning jobs: ``study_size`` (the preset), ``study_pretrain_seed``, ``study_pretrain_steps``
  (the export's step; the final export's is the run's step count) and ``study_level``
  (``<size>-pseed<k>-step<n>`` or ``-final``, the run directory's name);
- the size axis itself is ``training.parameters`` of run.json (the encoder's parameter count).

The end-of-sweep reports (conf/experiment/scaling_study.yaml) read the arms: size (final exports),
budget (one size's exports) and data size (scratch). A pretraining run that did not complete is
named and left out of stage 2.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra_plugins.homogenization_launchers.run_dirs import job_run_dir
from hydra_plugins.homogenization_launchers.staged_sweep import StagedSweeper, completed_export

log = logging.getLogger(__name__)


class ScalingStudySweeper(StagedSweeper):
    def __init__(
        self,
        sizes: list[str],
        pretrain_seeds: int,
        seeds: int,
        pretrain: list[str],
        finetune: list[str],
        budgets: list[int] | None = None,
        fractions: list[float] | None = None,
        scratch: list[str] | None = None,
        checkpoints: list[str] | None = None,
        finetune_by_size: dict[str, list[str]] | None = None,
        pretrained_data: list[str] | None = None,
    ) -> None:
        if len(sizes) + len(checkpoints or []) < 2 and len(fractions or []) < 2:
            raise ValueError(
                f"scaling_study: sizes={list(sizes)}, checkpoints={list(checkpoints or [])} and "
                f"fractions={list(fractions or [])}: an axis needs at least 2 levels (e.g. "
                "sizes=[tiny,mini,small])"
            )
        if pretrain_seeds < 1 or seeds < 2:
            raise ValueError(
                f"scaling_study: pretrain_seeds={pretrain_seeds} must be >= 1 and seeds={seeds} "
                ">= 2 (pairs within a level)"
            )
        if any(not isinstance(b, int) or b < 1 for b in budgets or []):
            raise ValueError(f"scaling_study: budgets={list(budgets or [])} must be optimizer steps >= 1")
        if any(not 0 < float(f) <= 1 for f in fractions or []):
            raise ValueError(f"scaling_study: fractions={list(fractions or [])} must be in (0, 1]")
        self.sizes, self.pretrain_seeds, self.seeds = list(sizes), pretrain_seeds, seeds
        self.budgets = sorted(set(budgets or []))
        self.fractions = [float(f) for f in fractions or []]
        self.checkpoints = [str(c) for c in checkpoints or []]
        # a size's own fine-tuning overrides, after the common ones (larger models want a smaller
        # learning rate: Turc et al. 2019 tuned it per size)
        self.finetune_by_size = {str(size): list(extra) for size, extra in (finetune_by_size or {}).items()}
        unknown = sorted(
            set(self.finetune_by_size) - set(self.sizes) - {self._short(c) for c in self.checkpoints}
        )
        if unknown:
            raise ValueError(
                f"scaling_study: finetune_by_size names {unknown}, which are neither in sizes "
                f"{self.sizes} nor checkpoints"
            )
        self.stages = {"pretrain": list(pretrain), "finetune": list(finetune), "scratch": list(scratch or []),
                       "pretrained_data": list(pretrained_data or [])}

    def sweep(self, arguments: list[str]) -> Any:
        self.start_sweep_dir()
        pretraining = self._pretraining(arguments)
        data_size = self._data_size(arguments)
        first_jobs = [*pretraining.values(), *data_size]
        log.info("scaling_study stage 1: %d pretraining runs (%d sizes x %d seeds) and %d data-size runs",
                 len(pretraining), len(self.sizes), self.pretrain_seeds, len(data_size))
        results = [self.launcher.launch(first_jobs, initial_job_idx=0)] if first_jobs else []
        jobs = [job for checkpoint in self.checkpoints
                for job in self._fine_tuning(arguments, self._short(checkpoint), checkpoint,
                                             [f"+study_level={self._short(checkpoint)}-final"])]
        for number, ((size, k), overrides) in enumerate(pretraining.items()):
            exports = self._exports_of(job_run_dir(self.hydra_context, self.config, overrides, number))
            if not exports:
                log.error("scaling_study: the pretraining of %s seed %d did not complete; it is left out",
                          size, k)
            for steps, (directory, final) in exports.items():
                level = f"{size}-pseed{k}-" + ("final" if final else f"step{steps}")
                jobs += self._fine_tuning(arguments, size, directory, [
                    f"+study_pretrain_seed={k}", f"+study_pretrain_steps={steps}", f"+study_level={level}"])
        if jobs:
            log.info("scaling_study stage 2: %d fine-tuning runs", len(jobs))
            results.append(self.launcher.launch(jobs, initial_job_idx=len(first_jobs)))
        else:
            log.error("scaling_study: no backbone was pretrained; nothing to fine-tune")
        return results

    def _pretraining(self, arguments: list[str]) -> dict[tuple[str, int], list[str]]:
        """(size, pretraining seed) -> its job's overrides, exporting at every budget."""
        budgets = ",".join(map(str, self.budgets))
        return {(size, k): [*arguments, *self.stages["pretrain"], f"model/size={size}", f"seed={k}",
                            f"record.export_steps=[{budgets}]", "+study_arm=pretrain",
                            f"+study_level={size}-pseed{k}"]
                for size in self.sizes for k in range(1, self.pretrain_seeds + 1)}

    def _data_size(self, arguments: list[str]) -> list[list[str]]:
        """The data-size axis: each arm (from scratch; a pretrained backbone) at each fraction."""
        return [[*arguments, *self.stages[arm], f"data.train_fraction={fraction}", f"seed={m}",
                 f"+study_arm={arm}", f"+study_level=fraction{fraction}"]
                for arm in ("scratch", "pretrained_data")
                for fraction in (self.fractions if self.stages[arm] else [])
                for m in range(1, self.seeds + 1)]

    def _fine_tuning(
        self, arguments: list[str], size: str, backbone, study_keys: list[str]
    ) -> list[list[str]]:
        """The fine-tuning jobs of one backbone, one per seed: the common overrides, the size's own,
        then what the reports read."""
        return [
            [
                *arguments,
                *self.stages["finetune"],
                *self.finetune_by_size.get(size, []),
                f"backbone={backbone}",
                f"seed={m}",
                "+study_arm=finetune",
                f"+study_size={size}",
                *study_keys,
            ]
            for m in range(1, self.seeds + 1)
        ]

    @staticmethod
    def _short(checkpoint: str) -> str:
        """A checkpoint's name in run directories and groups: its last path part
        (google/bert_uncased_L-2_H-128_A-2 -> bert_uncased_L-2_H-128_A-2)."""
        return checkpoint.rstrip("/").rsplit("/", 1)[-1]

    @staticmethod
    def _exports_of(run_dir: Path) -> dict[int, tuple[Path, bool]]:
        """steps -> (export directory, is the final export) of a complete pretraining run; {} if
        it did not complete."""
        record = completed_export(run_dir)
        if record is None:
            return {}
        exports = {int(step): (run_dir / path, False) for step, path in (record.exports or {}).items()}
        exports[int(record.training["steps"])] = (run_dir / record.export, True)
        return dict(sorted(exports.items()))
