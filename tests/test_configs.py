"""Config tests that discover: every yaml under conf/ composes, the model x data matrix comes from
each model's tasks and each data config's task, so a new config is tested without editing a test."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.utils import get_object, instantiate
from omegaconf import OmegaConf

from homogenization.conf import CONFIG_MODULE
from homogenization.training.recipe import build
from tests.helpers import REPO_ROOT, compose_config, write_tsv

CONF = REPO_ROOT / "conf"
MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
DATA = sorted(p.stem for p in (CONF / "data").glob("*.yaml"))
GROUP_FILES = sorted(p.relative_to(CONF) for p in CONF.rglob("*.yaml") if p.parent != CONF)


def composed(*overrides: str, config: str = "train"):
    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        return compose(config, overrides=list(overrides), return_hydra_config=True)


def model_tasks(model: str) -> list[str]:
    return list(composed(f"model={model}").model.tasks)


def data_task(data: str) -> str:
    return composed(f"data={data}").task.name


def targets(node) -> list[str]:
    """Every ``_target_`` in a config (a container)."""
    if isinstance(node, dict):
        found = [node["_target_"]] if isinstance(node.get("_target_"), str) else []
        return found + [t for value in node.values() for t in targets(value)]
    if isinstance(node, list):
        return [t for value in node for t in targets(value)]
    return []


def test_the_discovery_sees_every_config():
    """A floor, so the discovering tests below cannot silently shrink."""
    assert len(GROUP_FILES) >= 45 and len(MODELS) >= 4 and len(DATA) >= 5


@pytest.mark.parametrize("path", GROUP_FILES, ids=str)
def test_every_yaml_composes(path):
    """Each file under conf/ composes into a training (or analysis) config, as a choice of its group
    (given directly, added with +, or under a model that offers the group), every interpolation
    resolves, and every _target_ names something importable."""
    group, name = str(path.parent), path.stem
    attempts = [[f"{group}={name}"], [f"+{group}={name}"],
                *([f"model={m}", f"{group}={name}"] for m in MODELS)]
    errors = []
    for config in ("train", "analyze"):
        for overrides in attempts:
            try:
                extra = ["runs=."] if config == "analyze" else ["paths.output_dir=/composed/only"]
                cfg = composed(*overrides, *extra, config=config)
            except Exception as error:   # noqa: BLE001 - the next way of choosing it may work
                errors.append(f"{config} {overrides}: {str(error).splitlines()[0]}")
                continue
            assert cfg.hydra.runtime.choices.get(group) == name
            job = OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]),
                                         resolve=True, throw_on_missing=False)
            for target in targets(job) + targets(OmegaConf.to_container(cfg.hydra.get("launcher") or {})):
                assert get_object(target) is not None, target
            return
    pytest.fail(f"conf/{path} composes in no way: {errors[-3:]}")


@pytest.mark.parametrize("model", MODELS)
def test_every_model_yaml_has_its_parts(model):
    cfg = composed(f"model={model}").model
    assert cfg.name == model
    assert set(cfg.tasks) <= {p.stem for p in (CONF / "task").glob("*.yaml")}
    for part in ("tokenizer", "encoder", "optimizer"):
        assert get_object(cfg[part]._target_) is not None, part


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_every_experiment_sets_what_it_sweeps(experiment):
    """Sweeper params, or a two-stage study's sizes: backbone_study's backbones and seeds,
    scaling_study's sizes (or fractions) and seeds."""
    sweeper = composed(f"experiment={experiment}").hydra.sweeper
    planned = (sweeper.get("params") or (sweeper.get("backbones") and sweeper.get("seeds"))
               or ((sweeper.get("sizes") or sweeper.get("fractions")) and sweeper.get("seeds")))
    assert planned, f"experiment={experiment} sets neither hydra.sweeper.params nor a study's sizes"


def evaluates_only(model: str) -> bool:
    """Models that are tested as they are, never trained (model=finetuned: its checkpoint's own
    head; tests/test_finetuned_checkpoint.py covers its tasks)."""
    from hydra.utils import get_object
    return getattr(get_object(composed(f"model={model}").model.encoder._target_), "evaluates_only", False)


PAIRS = [(model, data) for model in MODELS for data in DATA
         if data_task(data) in model_tasks(model) and not evaluates_only(model)]


@pytest.fixture
def user_files(tmp_path):
    """Small files for the generic data configs, which name no files themselves, by task."""
    rows = [("a good film", "pos"), ("a bad film", "neg")]
    held_out = [("a good play", "pos"), ("a bad play", "neg")]   # a test split that is the training
    conll = tmp_path / "data.conll"                              # split is refused
    conll.write_text("John\tB-PER\nlives\tO\nin\tO\nParis\tB-LOC\n\n", encoding="utf-8")
    conll_test = tmp_path / "test.conll"
    conll_test.write_text("Mary\tB-PER\nlives\tO\nin\tO\nRome\tB-LOC\n\n", encoding="utf-8")
    files = {"sequence_classification": {split: write_tsv(tmp_path / f"{split}.tsv",
                                                          held_out if split == "test" else rows)
                                         for split in ("train", "dev", "test")},
             "token_classification": {"train": conll, "dev": conll, "test": conll_test}}
    # The same examples as JSON lines, for the data configs that load through `datasets`.
    sentences = {split: [{"text": text, "label": label}
                         for text, label in (held_out if split == "test" else rows)]
                 for split in ("train", "dev", "test")}
    tagged = {split: [{"tokens": [row.split("\t")[0] for row in block.splitlines()],
                       "ner_tags": [row.split("\t")[1] for row in block.splitlines()]}
                      for block in path.read_text().strip().split("\n\n")]
              for split, path in files["token_classification"].items()}
    for task, examples in (("sequence_classification", sentences), ("token_classification", tagged)):
        files[f"{task}.jsonl"] = {}
        for split, split_examples in examples.items():
            path = tmp_path / f"{task}-{split}.jsonl"
            path.write_text("".join(json.dumps(example) + "\n" for example in split_examples))
            files[f"{task}.jsonl"][split] = path
    return files


def test_the_matrix_comes_from_the_configs():
    assert ("cnn_lstm", "sst2") in PAIRS and ("bert_pretrain", "wikitext2") in PAIRS
    assert ("cnn_lstm", "wikitext2") not in PAIRS and ("bert_pretrain", "sst2") not in PAIRS


@pytest.mark.parametrize("model, data", PAIRS)
def test_every_model_learns_every_task_it_claims(request, tmp_path, user_files, tiny_bert, model, data):
    """Every (model, data) pair whose task the model lists builds and takes a finite training step."""
    task = data_task(data)
    overrides = [f"model={model}", f"data={data}", f"backbone={tiny_bert}"]
    data_cfg = composed(f"data={data}").data
    files = data_cfg.files
    if OmegaConf.is_dict(files) and OmegaConf.is_missing(files, "train"):
        overrides += [f"data.files.{split}={path}" for split, path in user_files[task].items()]
    if OmegaConf.is_missing(data_cfg, "dataset"):   # a data config that loads through `datasets`
        local = user_files[f"{task}.jsonl"]
        mapping = ", ".join(f"{theirs}: '{local[ours]}'" for ours, theirs in
                            (("train", "train"), ("dev", "validation"), ("test", "test")))
        overrides += ["data.dataset=json", f"data.data_files={{{mapping}}}"]
    cfg = compose_config(tmp_path / "run", overrides)
    named = cfg.data.files.values() if OmegaConf.is_dict(cfg.data.files) else cfg.data.files or []
    if not all(Path(path).is_file() for path in named):
        request.getfixturevalue("data_dir")   # a real dataset: skips without it
    assert cfg.model.name == model and cfg.task.name == task
    datamodule, encoder, module = build(cfg)
    batch = next(iter(datamodule.val_dataloader()))
    loss = module.training_step(batch, 0)
    assert torch.isfinite(loss) and loss > 0
    if "labels" in batch and task != "masked_lm":
        states = encoder.sequence_representation(batch["input_ids"], batch["attention_mask"])
        assert states.shape == (len(batch["input_ids"]), encoder.hidden_size)
        tokens = encoder.token_representations(batch["input_ids"], batch["attention_mask"])
        assert tokens.shape == (*batch["input_ids"].shape, encoder.hidden_size)
        assert_padding_invariant(encoder, batch, datamodule.pad_token_id)


def assert_padding_invariant(encoder, batch: dict, pad_token_id: int, extra: int = 3) -> None:
    """docs/architecture.md, Extending: a sentence's representation does not depend on the padding
    of its batch. The batch padded by ``extra`` more pad tokens gives the same pooled and per-token
    representations (to 1e-5), in eval mode (no dropout)."""
    encoder.eval()
    ids, mask = batch["input_ids"], batch["attention_mask"]
    padded_ids = torch.cat([ids, torch.full((len(ids), extra), pad_token_id, dtype=ids.dtype)], dim=1)
    padded_mask = torch.cat([mask, torch.zeros((len(mask), extra), dtype=mask.dtype)], dim=1)
    with torch.no_grad():
        pooled = encoder.sequence_representation(ids, mask)
        pooled_padded = encoder.sequence_representation(padded_ids, padded_mask)
        tokens = encoder.token_representations(ids, mask)
        tokens_padded = encoder.token_representations(padded_ids, padded_mask)[:, : ids.shape[1]]
    torch.testing.assert_close(pooled_padded, pooled, atol=1e-5, rtol=1e-4)
    real = mask.bool()
    torch.testing.assert_close(tokens_padded[real], tokens[real], atol=1e-5, rtol=1e-4)


def test_optional_groups_compose_with_their_content():
    assert composed("callbacks=early_stopping").callbacks.early_stopping.monitor == "val/acc"
    ddp = composed("trainer=ddp_cpu").trainer
    assert ddp.strategy == "ddp" and ddp.devices == 2 and ddp.accelerator == "cpu"
    assert composed("logger=wandb").logger.wandb._target_.endswith("WandbLogger")
    assert composed("debug=fast").trainer.limit_train_batches == 1


def test_help_lists_the_config_groups():
    result = subprocess.run([sys.executable, "scripts/train.py", "--help"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    listed = {line.split(":")[0].strip() for line in result.stdout.splitlines() if ": " in line}
    groups = {str(p.relative_to(CONF)) for p in CONF.rglob("*")
              if p.is_dir() and p.relative_to(CONF).parts[0] != "hydra"   # Hydra's own groups
              and not any(part.startswith("_") for part in p.relative_to(CONF).parts)}   # __pycache__
    assert groups <= listed, groups - listed
    for model in MODELS:
        assert model in result.stdout


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
