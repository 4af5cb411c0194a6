"""Bad input, part of the catalogue in docs/bad_input.md: one clear message naming the key or file
and the fix, a non-zero exit, and no complete run record. (Data-file cases: test_readers.py,
test_conll.py; checkpoint directories: test_training.py; analysis: test_analysis_report.py.)"""

import subprocess
import sys

import numpy as np
import pytest
import torch

from homogenization.analysis.make_report import make_report
from homogenization.analysis.runs.synthetic_runs import write_run
from homogenization.analysis.study import Settings
from homogenization.core.errors import UserError
from homogenization.training.recipe import train
from tests.helpers import REPO_ROOT, compose_config


class NotATensor:
    """Unpickling this needs code execution, which weights_only loading refuses."""


def refused(cfg, message, run_dir):
    with pytest.raises(UserError, match=message):
        train(cfg)
    assert not (run_dir / "run.json").exists()


@pytest.mark.parametrize("overrides, message", [
    (["model=bert_pretrain", "data=sst2"], "model=bert_pretrain cannot learn the task of data=sst2"),
    (["model=cnn_lstm", "data=wikitext2"], "model=cnn_lstm cannot learn the task of data=wikitext2"),
    (["data.batch_size=0"], "data.batch_size"),
    (["data.max_length=-1"], "data.max_length"),
    (["ckpt_path=last"], "ckpt_path=last: no checkpoint at"),
    (["data.train_fraction=0"], "data.train_fraction"),
    (["data.bucket_batches=-1"], "data.bucket_batches=-1 must be 0"),
    (["data=demo_ner", "task.encoder.token_dropout=1.5"],
     r"task.encoder.token_dropout=1.5 must be in \[0, 1\)"),
    (["data=demo_ner", "+model.encoder.token_dropout=1.5"],   # a model's own setting wins
     r"token_dropout=1.5 must be in \[0, 1\)"),
    (["data=demo_ner", "task.module.decoding=crf"], "task.module.decoding='crf': choose iob2 or argmax"),
    (["model=transformer", "model.encoder.position=sinusoidal"],
     r"model.encoder.position='sinusoidal': choose one of \('absolute', 'relative'\)"),
])
def test_config_values_that_cannot_work(tmp_path, overrides, message):
    run_dir = tmp_path / "run"
    refused(compose_config(run_dir, overrides), message, run_dir)


def test_checkpoint_from_another_architecture_is_refused(tmp_path):
    first = tmp_path / "transformer"
    train(compose_config(first, ["model=transformer", "model.width=32", "model.encoder.ff_dim=64",
                                 "model.tokenizer.vocab_size=2000"]))
    run_dir = tmp_path / "run"
    cfg = compose_config(run_dir, [f"ckpt_path={first / 'checkpoints' / 'last.ckpt'}"])
    refused(cfg, r"last\.ckpt: this checkpoint was saved by another model or size", run_dir)


def test_checkpoint_needing_code_execution_is_refused(tmp_path):
    unsafe = tmp_path / "unsafe.ckpt"
    torch.save({"state_dict": {}, "payload": NotATensor()}, unsafe)
    run_dir = tmp_path / "run"
    refused(compose_config(run_dir, [f"ckpt_path={unsafe}"]),
            "refused to load this checkpoint: it needs to execute pickled code", run_dir)


def test_truncated_checkpoint_is_named(tmp_path):
    truncated = tmp_path / "truncated.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1000)}}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:500])
    run_dir = tmp_path / "run"
    refused(compose_config(run_dir, [f"ckpt_path={truncated}"]), "truncated or corrupted", run_dir)


def test_run_directory_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(UserError, match="the run directory cannot be written"):
        train(compose_config(blocker / "run", []))


def test_unknown_config_choice_lists_the_options(tmp_path):
    result = subprocess.run([sys.executable, "scripts/train.py", "model=lstm", f"hydra.run.dir={tmp_path}"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 2
    assert "error: model=lstm: no such model; choose one of" in output and "cnn_lstm" in output
    assert "Traceback" not in output and "HYDRA_FULL_ERROR" not in output


def test_analysis_names_a_truncated_predictions_file(tmp_path):
    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, 50)
    for seed in (1, 2):
        write_run(tmp_path / f"r{seed}", label, label, rng.normal(size=(50, 4)), seed=seed)
    broken = tmp_path / "r2" / "predictions" / "test.npz"
    broken.write_bytes(broken.read_bytes()[:100])
    with pytest.raises(UserError, match=r"r2/predictions/test\.npz: cannot be read"):
        make_report([str(tmp_path)], tmp_path / "report", ["model"], Settings(bootstrap=10))
    assert not (tmp_path / "report").exists()


def test_analysis_names_representations_with_the_wrong_row_count(tmp_path):
    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, 50)
    write_run(tmp_path / "r1", label, label, rng.normal(size=(50, 4)), seed=1)
    write_run(tmp_path / "r2", label, label, rng.normal(size=(49, 4)), seed=2)
    with pytest.raises(UserError, match=r"r2/representations/test\.npy: shape \(49, 4\), expected one row"):
        make_report([str(tmp_path)], tmp_path / "report", ["model"], Settings(bootstrap=10))


def test_analysis_needs_two_complete_runs(tmp_path):
    (tmp_path / "only" / ".hydra").mkdir(parents=True)
    with pytest.raises(UserError, match="0 complete run.*at least 2"):
        make_report([str(tmp_path)], tmp_path / "report", ["model"], Settings())


@pytest.mark.parametrize("setting, message", [
    ("empty", r"empty\.txt: no text in the file"),
    ("data.block_size=8", "data.block_size=8 is too small"),
    ("data.mlm_probability=1.5", r"data.mlm_probability=1.5 must be in \(0, 1\)"),
])
def test_bad_pretraining_corpus_settings(tmp_path, setting, message):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    overrides = ["model=bert_pretrain", "data=wikitext2"]
    overrides += [f"data.files=[{empty}]"] if setting == "empty" else [setting]
    run_dir = tmp_path / "run"
    refused(compose_config(run_dir, overrides), message, run_dir)


def test_analysis_without_runs_is_one_line():
    result = subprocess.run([sys.executable, "scripts/analyze.py"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in output
    assert "runs=: say which runs to analyze" in output
