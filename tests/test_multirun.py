"""A real Hydra multirun (3 models x 2 seeds) yields 6 complete, distinct run records, its
homogenization report, and W&B runs (offline) for every job and for the report."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from homogenization.core.run_record import read_predictions, read_run_json
from tests.helpers import FAST, FAST_LABELLED_DATA, REPO_ROOT
from tests.wandb_records import logged_artifacts, run_summary


def test_homogenization_study_multirun(tmp_path, tiny_bert):
    sweep_dir = tmp_path / "sweep"
    command = [
        sys.executable, "scripts/train.py", "-m", "experiment=demo",
        "model=cnn_lstm,transformer,bert", "seed=1,2", f"backbone={tiny_bert}",
        f"hydra.sweep.dir={sweep_dir}", f"paths.cache_dir={tmp_path / 'cache'}", "logger=wandb",
        "logger.wandb.log_model=true", "hydra.callbacks.homogenization_report.bootstrap=100",
        *FAST, *FAST_LABELLED_DATA,
    ]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    run_dirs = sorted(p for p in sweep_dir.iterdir() if p.is_dir() and p.name not in ("report", "wandb"))
    records = [read_run_json(p) for p in run_dirs]
    assert len(run_dirs) == 6 and all(r and r["status"] == "complete" for r in records)
    assert {(r["model"], r["seed"]) for r in records} == {
        (m, s) for m in ("cnn_lstm", "transformer", "bert") for s in (1, 2)}
    assert len({r["data"]["splits"]["test"]["fingerprint"] for r in records}) == 1
    for run_dir, record in zip(run_dirs, records):
        assert run_dir.name.endswith(f"{record['model']}-seed{record['seed']}")
        assert (run_dir / "predictions" / "test.npz").is_file()
        assert (run_dir / "representations" / "test.npy").is_file()
    by_key = {(r["model"], r["seed"]): read_predictions(p)["probs"]
              for p, r in zip(run_dirs, records)}
    for model in ("cnn_lstm", "transformer", "bert"):
        assert not np.array_equal(by_key[(model, 1)], by_key[(model, 2)])

    # One distinct, finished W&B run per job, grouped by the sweep, typed by architecture.
    wandb_runs, logged_records = {}, {}
    for run_dir, record in zip(run_dirs, records):
        (run_file,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
        wandb_runs[run_file.stem] = logged = run_summary(run_file)
        assert (run_dir / "wandb_id.txt").read_text() == run_file.stem.removeprefix("run-")
        assert logged["group"] == "demo-sweep"
        assert logged["job_type"] == record["model"]
        assert logged["name"] == f"{record['model']}-seed{record['seed']}"
        assert logged["config"]["model"]["name"] == record["model"]
        assert logged["config"]["seed"] == record["seed"]
        assert logged["summary"]["test/acc"] == pytest.approx(record["metrics"]["test/acc"])
        assert logged["summary"]["val/acc"]["max"] == pytest.approx(record["metrics"]["val/acc_best"])
        (table_file,) = run_dir.glob("wandb/offline-run-*/files/media/table/test_predictions_*.table.json")
        table = json.loads(table_file.read_text())
        assert table["columns"] == ["example_id", "text", "label", "pred", "correct", "probability"]
        assert len(table["data"]) == record["test"]["units_recorded"]
        artifact, model = [a for a in logged_artifacts(run_file) if a["type"] in ("run-record", "model")]
        assert artifact["type"] == "run-record" and artifact["name"].startswith(record["model"])
        assert model["type"] == "model" and "best" in model["aliases"]   # log_model: the tested one
        logged_records[artifact["name"]] = artifact["digest"]
    assert len(wandb_runs) == 6

    report = sweep_dir / "report"
    pairs = pd.read_csv(report / "pairs.csv")
    assert len(pairs) == 15 and pairs.agreement.between(0, 1).all()
    groups = list(pd.read_csv(report / "groups.csv").group)
    assert groups == ["bert", "cnn_lstm", "transformer", "all (pooled)"]
    assert (report / "figures" / "error_consistency.png").is_file()
    assert not list(report.glob("wandb"))   # the analysis run's files are beside the report
    assert list(sweep_dir.glob("wandb/offline-run-*/files/media/table/pairs_*.table.json"))
    assert list(sweep_dir.glob("wandb/offline-run-*/files/media/table/units_*.table.json"))
    units = pd.read_csv(report / "units.csv")
    assert len(units) == records[0]["test"]["units_recorded"] and units.text.str.len().gt(0).all()
    assert units.wrong_all.between(0, 6).all()
    (analysis_file,) = sweep_dir.glob("wandb/offline-run-*/run-*.wandb")
    analysis_run = run_summary(analysis_file)
    assert analysis_run["job_type"] == "analysis" and analysis_run["group"] == "demo-sweep"
    assert analysis_run["name"] == "demo"   # the study's name
    # lineage: the report's inputs are exactly the artifacts the six training runs logged
    assert {i["name"]: i["digest"] for i in analysis_run["config"]["inputs"]} == logged_records
    assert "error_consistency/within" in analysis_run["summary"]


def test_user_error_exits_with_one_line_and_no_traceback(tmp_path):
    bad = tmp_path / "train.tsv"
    bad.write_text("text\tlabel\ngood\t1\nbad\t1\textra\n", encoding="utf-8")
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "scripts/train.py", "data=tsv", f"data.files.train={bad}",
         f"data.files.dev={bad}", f"data.files.test={bad}", f"hydra.run.dir={run_dir}"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2
    assert f"{bad}:3: expected 2 columns, found 3" in output
    assert "Traceback" not in output
    record = read_run_json(run_dir)   # a failed record, never a complete one
    assert record["status"] == "failed" and "expected 2 columns, found 3" in record["error"]
    assert not (run_dir / "predictions").exists()
