"""Every model x data config composes, instantiates, and the CLI help lists the groups."""

import subprocess
import sys

import pytest
from hydra.utils import instantiate

from tests.helpers import REPO_ROOT, compose_config, write_tsv
from training.recipe import build_encoder

MODELS = ["cnn_lstm", "transformer", "bert"]


TASKS = {"sst2": "sequence_classification", "tsv": "sequence_classification",
         "conll2003": "token_classification", "conll": "token_classification"}


@pytest.fixture
def user_files(tmp_path):
    """Small files for the generic data configs (tsv, conll), which name no files themselves."""
    rows = [("a good film", "pos"), ("a bad film", "neg")]
    held_out = [("a good play", "pos"), ("a bad play", "neg")]   # a test split that is the training
    conll = tmp_path / "data.conll"                              # split is refused
    conll.write_text("John\tB-PER\nlives\tO\nin\tO\nParis\tB-LOC\n\n", encoding="utf-8")
    conll_test = tmp_path / "test.conll"
    conll_test.write_text("Mary\tB-PER\nlives\tO\nin\tO\nRome\tB-LOC\n\n", encoding="utf-8")
    return {"tsv": {split: write_tsv(tmp_path / f"{split}.tsv", held_out if split == "test" else rows)
                    for split in ("train", "dev", "test")},
            "conll": {"train": conll, "dev": conll, "test": conll_test}}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("data", list(TASKS))
def test_every_model_and_data_config_composes(tmp_path, user_files, tiny_bert, model, data):
    overrides = [f"model={model}", f"data={data}"]
    if data in user_files:
        overrides += [f"data.files.{split}={path}" for split, path in user_files[data].items()]
    if model == "bert":
        overrides.append(f"model.pretrained={tiny_bert}")
    cfg = compose_config(tmp_path / "run", overrides)

    assert cfg.model.name == model and cfg.task.name == TASKS[data]
    datamodule = instantiate(cfg.data, tokenizer=instantiate(cfg.model.tokenizer))
    datamodule.setup()
    encoder = build_encoder(cfg.model.encoder, datamodule)
    batch = next(iter(datamodule.test_dataloader()))
    states = encoder.sequence_representation(batch["input_ids"], batch["attention_mask"])
    assert states.shape == (len(batch["labels"]), encoder.hidden_size)
    tokens = encoder.token_representations(batch["input_ids"], batch["attention_mask"])
    assert tokens.shape == (*batch["input_ids"].shape, encoder.hidden_size)


@pytest.mark.parametrize("group", ["trainer=cpu", "trainer=gpu", "trainer=ddp", "trainer=ddp_cpu",
                                   "logger=csv", "logger=tensorboard", "logger=wandb", "debug=fast",
                                   "debug=limit", "callbacks=early_stopping", "experiment=sst2_seeds",
                                   "experiment=pretrain_bert", "experiment=conll2003_ner",
                                   "experiment=homogenization_sst2", "experiment=homogenization_conll",
                                   "hparams_search=optuna"])
def test_optional_groups_compose(tmp_path, group):
    cfg = compose_config(tmp_path / "run", [group], fast=False)
    assert cfg.trainer._target_ == "pytorch_lightning.Trainer"
    if group == "callbacks=early_stopping":
        assert cfg.callbacks.early_stopping.monitor == "val/acc"


def test_help_lists_groups_and_choices():
    result = subprocess.run([sys.executable, "scripts/train.py", "--help"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for line in ["model: bert, bert_pretrain, cnn_lstm, transformer",
                 "data: conll, conll2003, sst2, tsv, wikitext2", "model/size: mini, small, tiny",
                 "trainer: cpu, ddp, ddp_cpu, default, gpu", "logger: csv, tensorboard, wandb",
                 "debug: fast, limit", "hparams_search: optuna"]:
        assert line in result.stdout


def test_gpu_readiness_settings_compose(tmp_path):
    cfg = compose_config(tmp_path / "run", ["trainer=gpu", "compile=true", "data.pin_memory=true",
                                            "data.num_workers=4"], fast=False)
    assert cfg.trainer.accelerator == "gpu" and cfg.trainer.precision == "bf16-mixed"
    assert cfg.compile is True
    loader = instantiate(cfg.data, tokenizer=instantiate(cfg.model.tokenizer))
    assert loader.pin_memory and loader.num_workers == 4


def test_tuning_applies_to_its_model_and_data_only(tmp_path):
    """conf/tuning/<model>_<data>.yaml is picked from the choices, also under an experiment and
    inside a sweep over models; the command line still wins."""
    def compose(*overrides):
        return compose_config(tmp_path / "run", list(overrides), fast=False)

    tuned = compose("model=transformer", "data=conll2003")
    assert tuned.model.optimizer.lr == 1e-3 and tuned.trainer.max_epochs == 20
    assert compose("model=transformer", "experiment=conll2003_ner").model.optimizer.lr == 1e-3
    assert compose("model=cnn_lstm", "data=conll2003").trainer.max_epochs == 15
    assert compose("model=cnn_lstm", "data=conll2003", "debug=limit").trainer.max_epochs == 2
    assert compose("model=transformer").model.optimizer.lr == 5e-4         # SST-2: untouched
    assert compose("model=transformer").trainer.max_epochs == 3
    assert compose("model=transformer", "data=conll2003",
                   "model.optimizer.lr=2e-3").model.optimizer.lr == 2e-3
