"""The foundation-model path offline: masked-LM pretraining, export, and adaptation methods."""

import json

import numpy as np
import pytest
import torch

from datamodules.corpus import pack_blocks
from homogenization.core.backbones import file_sha256
from homogenization.core.errors import UserError
from homogenization.core.run_record import read_run_json
from homogenization.training.recipe import train
from lightning_modules.encoders.bert import weights_sha256
from tests.helpers import compose_config


def test_pretraining_exports_a_checkpoint_that_loads_unchanged(tiny_bert):
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer

    run_dir = tiny_bert.parent
    record = read_run_json(run_dir)
    assert record["status"] == "complete" and record["task"] == "masked_lm"
    assert record["export"] == "pretrained" and (tiny_bert / "model.safetensors").is_file()
    loss = record["metrics"]["val/loss"]
    assert record["metrics"]["val/perplexity"] == pytest.approx(np.exp(loss), rel=1e-4)

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    assert tokenizer.is_fast and tokenizer.mask_token == "[MASK]"
    assert tokenizer("the film")["input_ids"][0] == tokenizer.cls_token_id
    assert isinstance(AutoModel.from_pretrained(tiny_bert), torch.nn.Module)

    saved = torch.load(run_dir / record["checkpoint"], weights_only=True)["state_dict"]
    exported = AutoModelForMaskedLM.from_pretrained(tiny_bert).state_dict()
    for name, value in exported.items():
        assert torch.equal(value, saved[f"encoder.{name}"]), name
    config = json.loads((tiny_bert / "config.json").read_text())
    assert (config["num_hidden_layers"], config["hidden_size"]) == (2, 128)  # the tiny preset


def test_blocks_are_packed_with_special_tokens():
    blocks = pack_blocks([[5, 6, 7], [8, 9], [10]], block_size=5, cls_id=2, sep_id=3)
    # stream: 5 6 7 [SEP] 8 9 [SEP] 10 [SEP] -> bodies of 3, last partial one dropped
    assert blocks.tolist() == [[2, 5, 6, 7, 3], [2, 3, 8, 9, 3], [2, 3, 10, 3, 3]]


def finetune(tmp_path, tiny_bert, method: str) -> tuple[dict, dict]:
    run_dir = tmp_path / method
    record = train(compose_config(run_dir, [
        "model=bert", f"model.pretrained={tiny_bert}", f"model.finetune={method}",
        "model.optimizer.lr=1e-2",  # large, so that every trainable weight visibly moves
        "+callbacks.probe._target_=tests.helpers.TrainingProbe",
        f"+callbacks.probe.out_dir={run_dir / 'probe'}",
    ]))
    initial = torch.load(run_dir / "probe" / "initial_weights.pt", weights_only=True)
    final = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    return record, initial, final


@pytest.mark.parametrize("method", ["full", "probe", "bitfit"])
def test_adaptation_methods_train_exactly_their_weights(tmp_path, tiny_bert, method):
    from transformers import AutoModel

    backbone = AutoModel.from_pretrained(tiny_bert)
    backbone.pooler = None  # not used by the encoder (and not in an MLM export)
    record, initial, state = finetune(tmp_path, tiny_bert, method)
    assert all(torch.equal(initial[f"encoder.model.{name}"], value)  # training starts from it
               for name, value in backbone.state_dict().items())
    assert record["backbone"] == {"pretrained": str(tiny_bert), "init": "pretrained",
                                  "finetune": method, "sha256": weights_sha256(backbone),
                                  "weights_sha256": file_sha256(tiny_bert / "model.safetensors")}
    changed = {name for name, value in backbone.state_dict().items()
               if f"encoder.model.{name}" in state
               and not torch.equal(value, state[f"encoder.model.{name}"])}
    biases = {name for name in backbone.state_dict() if name.endswith("bias")}
    if method == "probe":
        assert changed == set()
    elif method == "bitfit":
        assert changed and changed <= biases
    else:
        assert changed - biases  # matrices move too
    assert not torch.equal(initial["head.1.weight"], state["head.1.weight"])  # the head trains


def test_random_init_keeps_the_architecture_but_not_the_weights(tmp_path, tiny_bert):
    record = train(compose_config(tmp_path / "run", [
        "model=bert", f"model.pretrained={tiny_bert}", "model.init=random"]))
    pretrained = train(compose_config(tmp_path / "pre", ["model=bert", f"model.pretrained={tiny_bert}"]))
    assert record["backbone"]["init"] == "random"
    assert record["backbone"]["sha256"] != pretrained["backbone"]["sha256"]
    assert record["config"]["model"]["pretrained"] == str(tiny_bert)


def test_hub_name_without_network_is_one_clear_error(tmp_path):
    cfg = compose_config(tmp_path / "run", ["model=bert", "model.pretrained=no-org/no-such-model"])
    with pytest.raises(UserError, match="could not load it.*without internet"):
        train(cfg)
