"""From ``runs=`` patterns to a written report: discovery, checks, analysis, files."""

from __future__ import annotations

import glob
import logging
import shutil
from dataclasses import fields, replace
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from homogenization.analysis.design.nested import nesting_of
from homogenization.analysis.report.markdown import check_report_destination, write_report
from homogenization.analysis.runs.discovery import assign_groups, check_comparable, find_runs
from homogenization.analysis.study import Settings, analyze
from homogenization.core.errors import UserError

log = logging.getLogger(__name__)


def make_report(patterns: list[str], out_dir: Path, group_by: list[str], settings: Settings):
    """Analyze the complete runs under ``patterns`` and write the report; return the Analysis."""
    check_report_destination(Path(out_dir))   # before minutes of analysis, not after
    runs, skipped = find_runs(patterns)
    for path, reason in skipped:
        log.warning("skipped %s: %s", path, reason)
    if len(runs) < 2:
        raise UserError(f"runs={','.join(map(str, patterns))}: {len(runs)} complete run(s) found, the "
                        "analysis needs at least 2")
    check_comparable(runs)
    groups = assign_groups(runs, group_by)
    nesting = nesting_of(runs, group_by, settings.nest) if settings.nest else None
    log.info("Analyzing %d runs in %d groups: %s", len(runs), len(groups), ", ".join(groups))
    scratch = settings.work_dir is None          # ours: CKA's Gram on disk, removed once written
    if scratch:
        settings = replace(settings, work_dir=str(Path(out_dir).parent / f".{Path(out_dir).name}.work"))
    try:
        Path(settings.work_dir).mkdir(parents=True, exist_ok=True)
        analysis = analyze(runs, groups, settings, nesting)
        write_report(analysis, out_dir, skipped)
    finally:   # also after an error or a stop signal: nothing of ours is left beside the report
        if scratch:
            shutil.rmtree(settings.work_dir, ignore_errors=True)
    log.info("Report written to %s", out_dir)
    return analysis


def settings_from_config(cfg: DictConfig) -> Settings:
    return Settings(**{f.name: cfg[f.name] for f in fields(Settings)})


def report_from_config(cfg: DictConfig, runs=None, out: Path | None = None):
    """The analysis described by conf/analyze.yaml (``runs``/``out`` override the config's)."""
    if runs is None and OmegaConf.is_missing(cfg, "runs"):
        raise UserError("runs=: say which runs to analyze: run or sweep directories, or glob patterns "
                        "(e.g. runs=logs/multiruns/<sweep>).")
    runs = cfg.runs if runs is None else runs
    patterns = [str(runs)] if isinstance(runs, (str, Path)) else [str(r) for r in runs]
    out = out if out is not None else cfg.get("out")
    if out is None:
        if len(patterns) != 1 or glob.has_magic(patterns[0]) or Path(patterns[0]).is_file():
            raise UserError("out=: say where the report goes (it defaults to <runs>/report only when "
                            "runs= is a single directory)")
        out = Path(patterns[0]) / "report"
    group_by = [cfg.group_by] if isinstance(cfg.group_by, str) else list(cfg.group_by)
    analysis = make_report(patterns, Path(out), group_by, settings_from_config(cfg))
    if cfg.get("wandb"):
        from homogenization.analysis.report.wandb_report import log_report

        log_report(analysis, Path(out), cfg.wandb.project, cfg.wandb.get("entity"), cfg.wandb.get("group"),
                   name=cfg.wandb.get("name"), wandb_dir=cfg.wandb.get("dir"))
    return analysis
