"""experiment=scaling_study end to end, tiny: backbones of two sizes pretrained on generated text,
each exported at an intermediate step and at the end, every export fine-tuned with two seeds, the
CNN-LSTM trained from scratch on two training fractions, and the three reports of the axes (size,
pretraining budget, data size), from one command through the real Hydra sweep."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from homogenization.core.run_record import read_run_json
from tests.helpers import FAST, REPO_ROOT, generated_corpus


def study_command(tmp_path) -> list[str]:
    """The scaling study as a user starts it, fast, everything written below ``tmp_path``."""
    return [
        sys.executable,
        "scripts/train.py",
        "-m",
        "experiment=scaling_study",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"paths.generated_dir={tmp_path / 'generated'}",
        *FAST,
    ]


def quoted(items: list[str]) -> str:
    """A list of overrides as one Hydra list value."""
    return "[" + ",".join(f'"{item}"' for item in items) + "]"


def test_one_command_runs_every_axis_and_reports_its_trend(tmp_path, tiny_bert):
    corpus = generated_corpus(tmp_path)
    sweep_dir = tmp_path / "sweep"
    fine_tuning = ["data=demo", "model=bert", "data.max_train_examples=300", "data.max_length=64"]
    command = [
        *study_command(tmp_path),
        "hydra.sweeper.sizes=[tiny,mini]",
        "hydra.sweeper.pretrain_seeds=1",
        "hydra.sweeper.seeds=2",
        "hydra.sweeper.budgets=[1]",
        "hydra.sweeper.fractions=[0.25,1.0]",
        "hydra.sweeper.pretrain="
        + quoted(
            [
                "data=wikitext2",
                f"data.files=[{corpus}]",
                "model=bert_pretrain",
                "model.tokenizer.vocab_size=1000",
                "data.block_size=64",
            ]
        ),
        "hydra.sweeper.finetune=" + quoted(fine_tuning),
        'hydra.sweeper.finetune_by_size={mini: ["model.optimizer.lr=1e-5"]}',  # a size's own recipe
        "hydra.sweeper.scratch=" + quoted(["data=demo", "model=cnn_lstm"]),
        # the data axis's pretrained arm: a pretrained backbone fine-tuned at each fraction
        "hydra.sweeper.pretrained_data=" + quoted([*fine_tuning, f"backbone={tiny_bert}"]),
        # the budget report reads the tiny backbone's exports (the shipped config reads mini's)
        "hydra.callbacks.report_budgets.runs=finetune/*-tiny-*",
        *[
            f"hydra.callbacks.{report}.{setting}"
            for report in ("report_sizes", "report_budgets", "report_data_size",
                           "report_data_size_pretrained")
            for setting in ("bootstrap=50", "knn_bootstrap=10")
        ],
    ]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    records = {
        path.parent.relative_to(sweep_dir).as_posix(): read_run_json(path.parent)
        for path in sweep_dir.glob("*/*/run.json")
    }
    arms = {
        arm: {name: r for name, r in records.items() if name.startswith(f"{arm}/")}
        for arm in ("pretrain", "finetune", "scratch", "pretrained_data")
    }
    assert sum(map(len, arms.values())) == len(records) and all(
        r["status"] == "complete" for r in records.values()
    )
    assert len(arms["pretrain"]) == 2 and len(arms["scratch"]) == 4 and len(arms["pretrained_data"]) == 4
    assert {r["backbone"]["pretrained"] for r in arms["pretrained_data"].values()} == {str(tiny_bert)}
    assert sorted(r["config"]["data"]["train_fraction"] for r in arms["pretrained_data"].values()) == [
        0.25, 0.25, 1.0, 1.0]
    for arm in ("pretrained_data", "scratch"):   # the fraction is of the capped split: sizes differ 4x
        sizes = {r["config"]["data"]["train_fraction"]: r["data"]["splits"]["train"]["size"]
                 for r in arms[arm].values()}
        assert sizes[1.0] == pytest.approx(4 * sizes[0.25], abs=2), sizes
    for name, record in arms["pretrain"].items():  # one export after step 1, the final one after 2
        assert record["exports"] == {"1": "pretrained_steps/step1"} and record["training"]["steps"] == 2
        assert (sweep_dir / name / "pretrained_steps" / "step1" / "config.json").is_file()
    # 2 sizes x (step 1, final) x 2 seeds, each from its own export
    assert len(arms["finetune"]) == 8
    levels = sorted(
        (r["config"]["study_size"], r["config"]["study_pretrain_steps"], r["seed"])
        for r in arms["finetune"].values()
    )
    assert levels == sorted(
        (size, steps, seed) for size in ("tiny", "mini") for steps in (1, 2) for seed in (1, 2)
    )
    backbones = {r["backbone"]["pretrained"] for r in arms["finetune"].values()}
    assert len(backbones) == 4 and any(b.endswith("pretrained_steps/step1") for b in backbones)
    parameters = {r["config"]["study_size"]: r["training"]["parameters"] for r in arms["finetune"].values()}
    rates = {
        (r["config"]["study_size"], r["config"]["model"]["optimizer"]["lr"])
        for r in arms["finetune"].values()
    }
    assert {lr for size, lr in rates if size == "mini"} == {1e-5}
    assert {lr for size, lr in rates if size == "tiny"} != {1e-5}
    assert parameters["mini"] > parameters["tiny"] > 0
    assert sorted(r["config"]["data"]["train_fraction"] for r in arms["scratch"].values()) == [
        0.25,
        0.25,
        1.0,
        1.0,
    ]

    for report, key, runs_per_level in (
        ("report_sizes", "training.parameters", [2, 2]),
        ("report_budgets", "study_pretrain_steps", [2, 2]),
        ("report_data_size", "data.train_fraction", [2, 2]),
        ("report_data_size_pretrained", "data.train_fraction", [2, 2]),
    ):
        folder = sweep_dir / report
        levels = pd.read_csv(folder / "levels.csv")
        assert levels["runs"].tolist() == runs_per_level, report
        trends = pd.read_csv(folder / "trends.csv")
        assert {"accuracy", "error_consistency", "linear_cka"} <= set(trends["metric"]), report
        summary = json.loads((folder / "homogenization.json").read_text())
        assert summary["trend"]["key"] == key
        assert "## Homogenization and scale" in (folder / "report.md").read_text()
        for figure in ("trend_task_metric", "trend_homogenization", "alignment_capability", "level_matrix"):
            assert (folder / "figures" / f"{figure}.png").stat().st_size > 0
    sizes = pd.read_csv(sweep_dir / "report_sizes" / "levels.csv")
    assert sizes["level"].tolist() == sorted(parameters.values())


def test_export_steps_that_are_not_steps_are_one_line(tmp_path):
    for value in ("[0]", "[1.5]", "5"):
        command = [
            sys.executable,
            "scripts/train.py",
            f"record.export_steps={value}",
            f"hydra.run.dir={tmp_path / 'run'}",
        ]
        done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
        output = done.stderr + done.stdout
        assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
        assert "record.export_steps=" in output and "e.g. record.export_steps=[200,400]" in output


def test_a_ladder_pretrained_elsewhere_is_fine_tuned_as_it_is(tmp_path):
    """hydra.sweeper.checkpoints: the hub ladder's path (google/bert_uncased_L-*), here two local
    checkpoints of two sizes (no download here): no pretraining, each fine-tuned with 2 seeds."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from tests.tiny_backbones import tiny_backbone

    small = tiny_backbone(tmp_path / "ladder", "bert")
    config = AutoConfig.from_pretrained(small)
    config.num_hidden_layers = 2
    large = tmp_path / "ladder" / "bert_L-2"
    AutoModel.from_config(config).save_pretrained(large)
    AutoTokenizer.from_pretrained(small).save_pretrained(large)
    sweep_dir = tmp_path / "sweep"
    command = [
        *study_command(tmp_path),
        "hydra.sweeper.sizes=[]",
        "hydra.sweeper.fractions=[]",
        "hydra.sweeper.seeds=2",
        f"hydra.sweeper.checkpoints=[{small},{large}]",
        'hydra.sweeper.finetune=["data=demo","model=bert","data.max_train_examples=200","data.max_length=32"]',
        "hydra.callbacks.report_budgets.enabled=false",
        "hydra.callbacks.report_data_size.enabled=false",
        "hydra.callbacks.report_data_size_pretrained.enabled=false",
        "hydra.callbacks.report_sizes.bootstrap=20",
        "hydra.callbacks.report_sizes.knn_bootstrap=0",
    ]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    records = [read_run_json(path.parent) for path in sweep_dir.glob("*/*/run.json")]
    assert len(records) == 4 and {r["task"] for r in records} == {"sequence_classification"}
    assert sorted(r["config"]["study_size"] for r in records) == ["bert", "bert", "bert_L-2", "bert_L-2"]
    assert {r["backbone"]["pretrained"] for r in records} == {str(small), str(large)}
    assert (sweep_dir / "report_sizes" / "levels.csv").is_file(), (done.stdout + done.stderr)[-3000:]
    levels = pd.read_csv(sweep_dir / "report_sizes" / "levels.csv")
    assert levels["runs"].tolist() == [2, 2] and levels["level"].is_monotonic_increasing
