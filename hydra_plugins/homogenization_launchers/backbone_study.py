"""``experiment=backbone_study``: the MultiBERTs design as one sweep, in two stages.

Stage 1 pretrains ``backbones`` backbones, one per pretraining seed (1..K), with the same recipe
and data (``pretrain`` overrides). Stage 2, once they are exported, fine-tunes each with
``seeds`` fine-tuning seeds (1..M; ``finetune`` overrides, ``backbone=`` the stage-1 export), with
the probe too when ``probe`` is set, and trains M controls (``control`` overrides: the same
architecture and tokenizer from fresh weights, ``model.init=random``). Every stage-2 job carries
``study_backbone`` (``pretrained-seed<k>``, or ``random-seed<m>`` for a control: a run with no
backbone shares none), so the end-of-sweep report can nest fine-tuning seeds in backbones
(``group_by=[model.init, model.finetune, study_backbone]``, ``nest=study_backbone``).

With ``start_from`` (a pinned backbone such as ``minilm``, a directory or a hub name), stage 1
continues the masked-LM pretraining of that one real checkpoint K times instead (``continue_from``
overrides, ``model=bert_continue_mlm``: its encoder, a fresh head per seed): K siblings of one
ancestor, the MultiBERTs question at CPU size.

Both stages go through the configured launcher (local, joblib, SLURM). A backbone whose
pretraining did not complete is named and left out of stage 2; the sweep's summary lists the
failed job.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra_plugins.homogenization_launchers.run_dirs import job_run_dir
from hydra_plugins.homogenization_launchers.staged_sweep import StagedSweeper, completed_export

log = logging.getLogger(__name__)


class BackboneStudySweeper(StagedSweeper):
    def __init__(self, backbones: int, seeds: int, pretrain: list[str], finetune: list[str],
                 control: list[str], probe: bool = False, start_from: str | None = None,
                 continue_from: list[str] | None = None) -> None:
        if backbones < 2 or seeds < 2:
            raise ValueError(f"backbone_study: backbones={backbones} and seeds={seeds} must both be >= 2 "
                             "(pairs within and across backbones)")
        if start_from and not continue_from:
            raise ValueError("backbone_study: start_from needs continue_from (the overrides that continue "
                             "its pretraining, e.g. [data=wikitext2, model=bert_continue_mlm])")
        self.backbones, self.seeds, self.probe = backbones, seeds, probe
        first_stage = ([*continue_from, f"backbone={start_from}"] if start_from else pretrain)
        self.stages = {name: list(overrides) for name, overrides in
                       (("pretrain", first_stage), ("finetune", finetune), ("control", control))}

    def sweep(self, arguments: list[str]) -> Any:
        self.start_sweep_dir()
        pretraining = [[*arguments, *self.stages["pretrain"], f"seed={k}"]
                       for k in range(1, self.backbones + 1)]
        log.info("backbone_study stage 1: pretraining %d backbones", len(pretraining))
        first = self.launcher.launch(pretraining, initial_job_idx=0)
        exports = {}
        for k, overrides in enumerate(pretraining, start=1):
            run_dir = job_run_dir(self.hydra_context, self.config, overrides, k - 1)
            export = self._export_of(run_dir)
            if export is None:
                log.error("backbone_study: the pretraining of backbone %d (%s) did not complete; it is left "
                          "out of the study", k, run_dir)
            else:
                exports[k] = export
        if not exports:
            log.error("backbone_study: no backbone was pretrained; nothing to fine-tune")
            return [first]
        methods = ["full", "probe"] if self.probe else ["full"]
        jobs = [[*arguments, *self.stages["finetune"], f"backbone={export}", f"model.finetune={method}",
                 f"seed={m}", f"+study_backbone=pretrained-seed{k}"]
                for k, export in exports.items() for method in methods for m in range(1, self.seeds + 1)]
        reference = next(iter(exports.values()))   # the architecture and tokenizer of the controls
        jobs += [[*arguments, *self.stages["control"], f"backbone={reference}", "model.init=random",
                  f"seed={m}", f"+study_backbone=random-seed{m}"] for m in range(1, self.seeds + 1)]
        log.info("backbone_study stage 2: %d fine-tuning runs and %d controls", len(jobs) - self.seeds,
                 self.seeds)
        return [first, self.launcher.launch(jobs, initial_job_idx=len(pretraining))]

    @staticmethod
    def _export_of(run_dir: Path) -> Path | None:
        """The exported backbone of a complete pretraining run, or None."""
        record = completed_export(run_dir)
        return None if record is None else run_dir / record.export
