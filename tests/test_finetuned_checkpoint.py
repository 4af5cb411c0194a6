"""model=finetuned: a fine-tuned Hugging Face classifier evaluated as it is (its own head and
labels, no training), recorded as evaluated, and compared with runs trained here."""

import json

import numpy as np
import pytest
import torch

from homogenization.core.errors import UserError
from homogenization.core.run_record import read_predictions, read_record
from homogenization.training.recipe import train
from tests.helpers import compose_config
from tests.tiny_backbones import tiny_classifier

SENTIMENT = ["NEGATIVE", "POSITIVE"]
MAP = "model.label_map={NEGATIVE:negative,POSITIVE:positive}"


@pytest.mark.parametrize("family", ["bert", "distilbert"])
def test_a_sequence_classifier_is_evaluated_as_it_is(tmp_path, family):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    checkpoint = tiny_classifier(tmp_path, family, "sequence", SENTIMENT, name=f"{family}-sst")
    cfg = compose_config(tmp_path / "run", ["model=finetuned", f"checkpoint={checkpoint}", MAP,
                                            "data.max_length=64", "record.layers=all"])
    assert cfg.model.name == f"{family}-sst"
    train(cfg)
    record = read_record(tmp_path / "run")
    assert record.status == "complete" and record.training["evaluated"] and not record.untrained
    assert record.training["steps"] == 0 and record.labels == ["negative", "positive"]
    assert record.test["layers"] == [0, 1]          # the embedding output and the one layer
    saved = tmp_path / "run" / "checkpoints"
    assert not saved.exists() or not any(saved.iterdir())

    # the recorded probabilities are the checkpoint's own, on the same texts, in the data's order
    texts = json.loads((tmp_path / "run" / "predictions" / "test_texts.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint).eval()
    with torch.no_grad():
        batch = tokenizer(texts[:16], padding=True, truncation=True, max_length=64, return_tensors="pt")
        expected = model(**batch).logits.softmax(-1).numpy()
    recorded = read_predictions(tmp_path / "run")
    order = np.argsort(recorded["example_id"])[:16]
    np.testing.assert_allclose(recorded["probs"][order], expected, atol=1e-4)


def test_a_token_classifier_is_evaluated_with_its_tags(tmp_path):
    tags = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
    checkpoint = tiny_classifier(tmp_path, "bert", "token", tags[::-1])     # another order than the data's
    train(compose_config(tmp_path / "run", ["data=demo_ner", "model=finetuned", f"checkpoint={checkpoint}"]))
    record = read_record(tmp_path / "run")
    assert record.status == "complete" and record.training["evaluated"]
    assert record.backbone["labels"] == tags[::-1]


def test_labels_that_do_not_match_are_one_line_naming_both_sets(tmp_path):
    checkpoint = tiny_classifier(tmp_path, "bert", "sequence", SENTIMENT)
    with pytest.raises(UserError, match=r"predicts \['NEGATIVE', 'POSITIVE'\] but the data's labels are "
                                        r"\['negative', 'positive'\].*model.label_map") as error:
        train(compose_config(tmp_path / "run", ["model=finetuned", f"checkpoint={checkpoint}"]))
    assert "\n" not in str(error.value)


def test_the_config_matrix_leaves_the_evaluated_model_to_this_file():
    from tests.test_configs import PAIRS, evaluates_only
    assert evaluates_only("finetuned") and not evaluates_only("bert")
    assert not any(model == "finetuned" for model, _ in PAIRS)


def test_a_head_of_another_task_is_refused(tmp_path):
    checkpoint = tiny_classifier(tmp_path, "bert", "token", ["O", "B-PER"])
    with pytest.raises(UserError, match="token_classification head, but the data's task is sequence"):
        train(compose_config(tmp_path / "run", ["model=finetuned", f"checkpoint={checkpoint}"]))


def test_evaluated_checkpoints_and_trained_runs_are_one_study(tmp_path):
    import pandas as pd

    from homogenization.analysis.make_report import make_report
    from homogenization.analysis.study import Settings

    for name in ("sst-a", "sst-b"):
        checkpoint = tiny_classifier(tmp_path, "bert", "sequence", SENTIMENT, name=name)
        train(compose_config(tmp_path / "runs" / name, ["model=finetuned", f"checkpoint={checkpoint}", MAP]))
    train(compose_config(tmp_path / "runs" / "trained", ["model=cnn_lstm", "seed=1"]))
    make_report([str(tmp_path / "runs")], tmp_path / "report", ["model"],
                Settings(bootstrap=10, knn_bootstrap=2))
    runs = pd.read_csv(tmp_path / "report" / "runs.csv")
    assert sorted(runs.group) == ["cnn_lstm", "sst-a", "sst-b"]        # named after the checkpoints
    assert not runs[runs.group != "cnn_lstm"]["flags"].fillna("").str.contains("untrained").any()


def test_weights_without_the_head_their_config_names_are_refused_not_given_a_random_one(tmp_path):
    """A checkpoint whose config names a classifier but whose files hold only the encoder (a
    backbone saved with a fine-tuned model's config): transformers would initialize the head at
    random and the run would record it as the checkpoint's; it is one line instead."""
    from safetensors.torch import load_file, save_file

    checkpoint = tiny_classifier(tmp_path, "bert", "sequence", SENTIMENT)
    weights = checkpoint / "model.safetensors"
    save_file({k: v for k, v in load_file(weights).items() if not k.startswith("classifier.")}, weights,
              metadata={"format": "pt"})
    fresh = r"classifier\.(bias|weight)\) and would be initialized at random"
    with pytest.raises(UserError, match=fresh) as error:
        train(compose_config(tmp_path / "run", ["model=finetuned", f"checkpoint={checkpoint}", MAP]))
    assert "\n" not in str(error.value) and not (tmp_path / "run" / "predictions").exists()


@pytest.mark.parametrize("fault, words", [
    ("head_shape", r"2 weights have another shape than its config.json says, e.g. classifier\.(weight|bias) "
                   r"\(its file: \(3,?.*\), its config.json: \(2,?.*\)\)"),
    ("nan", r"its weights hold \d+ non-finite values \(NaN or inf\) in .*: the file is damaged"),
    ("three_labels", r"predicts 3 labels \['NEGATIVE', 'NEUTRAL', 'POSITIVE'\] but the data has 2 .*"
                     "cannot merge"),
])
def test_a_checkpoint_that_cannot_be_evaluated_as_it_is_is_one_line_naming_why(tmp_path, fault, words):
    """A head saved for another number of labels than its config names, damaged (NaN) weights, and
    a 3-label head on 2-label data: each one line naming the cause, never "the model diverged", a
    traceback or a map that cannot exist."""
    from safetensors.torch import load_file, save_file

    labels = ["NEGATIVE", "NEUTRAL", "POSITIVE"] if fault == "three_labels" else SENTIMENT
    checkpoint = tiny_classifier(tmp_path, "bert", "sequence", labels)
    weights = load_file(checkpoint / "model.safetensors")
    if fault == "head_shape":
        weights["classifier.weight"] = torch.zeros(3, weights["classifier.weight"].shape[1])
        weights["classifier.bias"] = torch.zeros(3)
    if fault == "nan":
        name = next(k for k in weights if "encoder" in k and k.endswith("weight"))
        weights[name] = torch.full_like(weights[name], float("nan"))
    save_file(weights, checkpoint / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(UserError, match=words) as error:
        train(compose_config(tmp_path / "run", ["model=finetuned", f"checkpoint={checkpoint}", MAP]))
    assert "\n" not in str(error.value) and not (tmp_path / "run" / "predictions").exists()
