"""Each model trains and writes a complete run record as core/run_record.py (and the README's
"What a run writes") says."""

import hashlib
import json

import numpy as np
import pytest
import torch

from homogenization.core.errors import UserError
from homogenization.core.run_record import read_predictions, read_representations, read_run_json
from homogenization.training.recipe import train
from homogenization.training.resolvers import seed_for
from tests.helpers import compose_config, write_tsv


def sst2_test_fingerprint(data_dir) -> str:
    """Recomputed independently of the data module: sha256 of text<TAB>label-name lines."""
    names = {"0": "negative", "1": "positive"}
    digest = hashlib.sha256()
    for line in (data_dir / "sst2" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        text, label = line.rsplit("\t", 1)
        digest.update(f"{text.strip()}\t{names[label]}\n".encode())
    return digest.hexdigest()


@pytest.mark.parametrize("model", ["cnn_lstm", "transformer", "bert"])
def test_model_trains_and_writes_complete_run_record(tmp_path, data_dir, tiny_bert, model):
    run_dir = tmp_path / "run"
    overrides = [f"model={model}", "seed=7", "data=sst2"]
    if model == "bert":
        overrides.append(f"model.pretrained={tiny_bert}")
    train(compose_config(run_dir, overrides))

    record = read_run_json(run_dir)
    assert record["schema"] == 2 and record["status"] == "complete"
    assert record["task"] == "sequence_classification" and record["model"] == model
    assert record["seed"] == 7 and record["seeds"] == {"init": 7, "init_stream": seed_for(record["model"], 7),
                                                        "data_order": 7}
    assert record["labels"] == ["negative", "positive"]
    test_split = record["data"]["splits"]["test"]
    assert record["data"]["name"] == "sst2"
    assert test_split == {"fingerprint": sst2_test_fingerprint(data_dir), "size": 872, "units": 872,
                          "truncated": 0}
    assert record["test"] == {"units_expected": 872, "units_recorded": 872, "representation_dtype": "float16"}
    assert record["training"]["untrained"] is False and record["config_digest"]
    assert record["data"]["splits"]["train"]["size"] == 300
    assert 0.0 <= record["metrics"]["test/acc"] <= 1.0 and "val/acc_best" in record["metrics"]
    assert record["config"]["model"]["name"] == model
    assert record["versions"]["torch"] and record["duration_s"] > 0
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / record["checkpoint"]).is_file()

    predictions = read_predictions(run_dir)
    assert (predictions["example_id"] == np.arange(872)).all()
    gold = [int(line.rsplit("\t", 1)[1])
            for line in (data_dir / "sst2" / "test.tsv").read_text().splitlines()[1:]]
    assert (predictions["label"] == gold).all()
    assert predictions["probs"].dtype == np.float32 and predictions["probs"].shape == (872, 2)
    np.testing.assert_allclose(predictions["probs"].sum(axis=1), 1.0, atol=1e-5)
    assert (predictions["pred"] == predictions["probs"].argmax(axis=1)).all()
    accuracy = (predictions["pred"] == predictions["label"]).mean()
    assert accuracy == pytest.approx(record["metrics"]["test/acc"], abs=1e-6)

    representations = read_representations(run_dir)
    assert representations.dtype == np.float16 and representations.shape[0] == 872
    assert np.isfinite(representations).all() and representations.astype(np.float32).std() > 0


def test_run_json_is_written_after_everything_else(tmp_path):
    run_dir = tmp_path / "run"
    train(compose_config(run_dir, []))
    run_json_time = (run_dir / "run.json").stat().st_mtime_ns
    others = [p for p in run_dir.rglob("*") if p.is_file() and p.name != "run.json"]
    assert others and all(p.stat().st_mtime_ns <= run_json_time for p in others)
    assert not list(run_dir.rglob("*.tmp"))


def test_loggers_write_their_files(tmp_path):
    run_dir = tmp_path / "run"
    train(compose_config(run_dir, ["logger=[csv,tensorboard]", "trainer.log_every_n_steps=1"]))
    metrics_csv = (run_dir / "csv" / "metrics.csv").read_text()
    assert "val/acc" in metrics_csv and "lr-AdamW" in metrics_csv
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))


def probe(tmp_path, name, **seeds):
    """Train with a probe callback; return (initial weights, batch order, test probabilities)."""
    import torch

    run_dir = tmp_path / name
    overrides = [f"{key}={value}" for key, value in seeds.items()] + [
        "model=transformer",
        "+callbacks.probe._target_=tests.helpers.TrainingProbe",
        f"+callbacks.probe.out_dir={run_dir / 'probe'}",
    ]
    train(compose_config(run_dir, overrides, cache_dir=tmp_path / "cache"))
    weights = torch.load(run_dir / "probe" / "initial_weights.pt", weights_only=True)
    batches = json.loads((run_dir / "probe" / "batches.json").read_text())
    return weights, batches, read_predictions(run_dir)["probs"]


def test_same_seeds_are_bitwise_identical_and_seeds_separate(tmp_path):
    import torch

    base_weights, base_batches, base_probs = probe(tmp_path, "a", seed=3)
    same_weights, same_batches, same_probs = probe(tmp_path, "b", seed=3)
    assert np.array_equal(base_probs, same_probs)  # bitwise, not approximately
    assert same_batches == base_batches

    data_weights, data_batches, _ = probe(tmp_path, "c", seed=3, seed_data=4)
    assert all(torch.equal(base_weights[k], data_weights[k]) for k in base_weights)
    assert data_batches != base_batches

    init_weights, init_batches, _ = probe(tmp_path, "d", seed=3, seed_init=4)
    assert init_batches == base_batches
    assert not torch.equal(base_weights["encoder.token_embedding.embedding.weight"],
                           init_weights["encoder.token_embedding.embedding.weight"])


@pytest.mark.parametrize("fault, message", [
    ("columns", r"dev\.tsv:4: expected 2 columns, found 3"),
    ("empty", r"dev\.tsv:4: empty text"),
    ("unseen_label", r"test\.tsv:4: label 'neutral' never occurs in the training split"),
])
def test_bad_input_stops_the_run_with_no_record(tmp_path, data_dir, fault, message):
    rows = [tuple(line.split("\t")) for line in
            (data_dir / "sst2" / "train.tsv").read_text().splitlines()[1:41]]
    dev, test = list(rows[:10]), list(rows[10:20])
    if fault == "columns":
        dev[2] = (dev[2][0], "1", "extra")
    elif fault == "empty":
        dev[2] = ("   ", "1")
    else:
        test[2] = (test[2][0], "neutral")
    files = {"train": write_tsv(tmp_path / "train.tsv", rows[20:]),
             "dev": write_tsv(tmp_path / "dev.tsv", dev),
             "test": write_tsv(tmp_path / "test.tsv", test)}
    run_dir = tmp_path / "run"
    cfg = compose_config(run_dir, ["data=tsv", *(f"data.files.{k}={v}" for k, v in files.items())])
    with pytest.raises(UserError, match=message):
        train(cfg)
    assert not (run_dir / "run.json").exists()
    assert not (run_dir / "predictions").exists()


@pytest.mark.parametrize("pretrained, message", [
    ("./no/such/checkpoint", "no such directory.*hub names need a network"),
    ("{tmp}", "holds no Hugging Face checkpoint"),
    ("{tmp}/broken", "the checkpoint in this directory is malformed"),
])
def test_bert_bad_checkpoint_path_is_one_clear_error(tmp_path, pretrained, message):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    (broken / "model.safetensors").write_bytes(b"garbage")
    (broken / "vocab.txt").write_text("[PAD]\n[UNK]\n")   # a tokenizer file: the weights are what is broken
    run_dir = tmp_path / "run"
    cfg = compose_config(run_dir, ["model=bert", f"model.pretrained={pretrained.format(tmp=tmp_path)}"])
    with pytest.raises(UserError, match=f"model.pretrained=.*{message}"):
        train(cfg)
    assert not (run_dir / "run.json").exists()


@pytest.mark.parametrize("total, fraction", [(100, 0.1), (37, 0.06), (5, 0.0)])
def test_the_schedule_gives_the_learning_rates_of_a_hugging_face_trainer(total, fraction):
    """conf/scheduler/linear_warmup.yaml against the formula of the Trainer's default schedule
    (warm-up from 0 to lr over int(fraction * total) steps, then linear to 0 at ``total``),
    written out here: bitwise the same learning rate at every step."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from homogenization.conf import config_file

    weight = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.AdamW([weight], lr=3e-4)
    schedule_cfg = OmegaConf.load(config_file("scheduler", "linear_warmup.yaml"))
    schedule = instantiate(schedule_cfg, warmup_fraction=fraction)(optimizer, num_training_steps=total)
    warmup = int(fraction * total)
    for step in range(total + 1):
        factor = (step / max(1, warmup) if step < warmup
                  else max(0.0, (total - step) / max(1, total - warmup)))
        assert optimizer.param_groups[0]["lr"] == 3e-4 * factor, step
        optimizer.step()
        schedule.step()
