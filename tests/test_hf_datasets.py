"""data=hf and data=hf_ner through the real Hugging Face `datasets` loader, on local files the
tests write (no download): every local builder, ClassLabel names, a dev split carved from train,
the same fingerprint as the file readers, and one-line errors."""

import datasets
import pytest

from datamodules.demo_data import generate
from homogenization.core.errors import UserError
from homogenization.core.run_record import read_run_json
from homogenization.training.recipe import build, train
from tests.helpers import compose_config


@pytest.fixture(scope="module")
def demo_rows(tmp_path_factory):
    """The generated sentiment task's rows, per split: (text, label)."""
    directory = generate("sentiment", tmp_path_factory.mktemp("generated"))
    return {split: [tuple(line.split("\t")) for line in
                    (directory / f"{split}.tsv").read_text().splitlines()[1:]]
            for split in ("train", "dev", "test")}, directory


def write_source(tmp_path, builder: str, rows: dict) -> list[str]:
    """Write the rows in ``builder``'s format; return the overrides that load them."""
    names = {"train": "train", "dev": "validation", "test": "test"}
    if builder == "save_to_disk":
        features = datasets.Features({"text": datasets.Value("string"),
                                      "label": datasets.ClassLabel(names=["negative", "positive"])})
        dataset = datasets.DatasetDict({names[split]: datasets.Dataset.from_dict(
            {"text": [t for t, _ in r], "label": [["negative", "positive"].index(label) for _, label in r]},
            features=features) for split, r in rows.items()})
        dataset.save_to_disk(str(tmp_path / "disk"))
        return [f"data.dataset={tmp_path / 'disk'}"]
    files = {}
    for split, r in rows.items():
        table = datasets.Dataset.from_dict({"text": [t for t, _ in r], "label": [label for _, label in r]})
        path = tmp_path / f"{split}.{ {'csv': 'csv', 'json': 'jsonl', 'parquet': 'parquet'}[builder]}"
        {"csv": table.to_csv, "json": table.to_json, "parquet": table.to_parquet}[builder](str(path))
        files[names[split]] = str(path)
    mapping = ", ".join(f"{split}: '{path}'" for split, path in files.items())
    return [f"data.dataset={builder}", f"data.data_files={{{mapping}}}"]


@pytest.mark.parametrize("builder", ["csv", "json", "parquet", "save_to_disk"])
def test_every_local_builder_gives_the_file_readers_fingerprints(tmp_path, demo_rows, builder):
    rows, _ = demo_rows
    overrides = ["data=hf", "data.label_names=null", *write_source(tmp_path, builder, rows)]
    datamodule = build(compose_config(tmp_path / "run", overrides))[0]
    reference = build(compose_config(tmp_path / "ref", ["data=demo", "data.label_names=null"]))[0]
    assert datamodule.fingerprints == reference.fingerprints
    assert datamodule.label_names == ["negative", "positive"]
    assert datamodule.sizes == {"train": 300, "dev": 400, "test": 600}   # train: max_train_examples


def test_class_label_names_and_a_seeded_dev_split(tmp_path, demo_rows):
    rows, _ = demo_rows
    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "stars": datasets.ClassLabel(names=["bad", "good"])})
    source = datasets.DatasetDict({
        split: datasets.Dataset.from_dict({"sentence": [t for t, _ in rows[ours]],
                                           "stars": [int(label == "positive") for _, label in rows[ours]]},
                                          features=features)
        for ours, split in (("train", "train"), ("test", "test"))})
    source.save_to_disk(str(tmp_path / "disk"))
    overrides = ["data=hf", f"data.dataset={tmp_path / 'disk'}", "data.label_names=null",
                 "data.splits.dev=null", "data.dev_fraction=0.25", "data.text_column=sentence",
                 "data.label_column=stars", "data.max_train_examples=null"]
    first = build(compose_config(tmp_path / "a", overrides))[0]
    again = build(compose_config(tmp_path / "b", overrides))[0]
    assert first.label_names == ["bad", "good"]                       # the ClassLabel's names
    assert first.sizes == {"train": 1800, "dev": 600, "test": 600}     # 25% of train carved out
    assert first.fingerprints == again.fingerprints                   # seeded: the same carve
    other = build(compose_config(tmp_path / "c", [*overrides, "data.dev_seed=1"]))[0]
    assert other.fingerprints["dev"] != first.fingerprints["dev"]


def test_token_task_from_a_dataset_with_class_label_tags_trains(tmp_path):
    directory = generate("entities", tmp_path / "generated")
    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names))})
    splits = {}
    for ours, theirs in (("train", "train"), ("dev", "validation"), ("test", "test")):
        blocks = (directory / f"{ours}.conll").read_text().strip().split("\n\n")
        sentences = [[row.split(" ") for row in block.splitlines()] for block in blocks]
        splits[theirs] = datasets.Dataset.from_dict(
            {"tokens": [[w for w, _ in s] for s in sentences],
             "ner_tags": [[names.index(t) for _, t in s] for s in sentences]}, features=features)
    datasets.DatasetDict(splits).save_to_disk(str(tmp_path / "disk"))
    run_dir = tmp_path / "run"
    train(compose_config(run_dir, ["data=hf_ner", f"data.dataset={tmp_path / 'disk'}"]))
    record = read_run_json(run_dir)
    reference = build(compose_config(tmp_path / "ref", ["data=demo_ner"]))[0]
    assert record["status"] == "complete" and record["task"] == "token_classification"
    assert record["data"]["splits"]["test"]["fingerprint"] == reference.fingerprints["test"]
    assert "B-PER" in record["labels"]


@pytest.mark.parametrize("override, message", [
    ("data.text_column=review",
     r"\[train\]: no column 'review' \(columns: text, label\)\. Set data\.text_column"),
    ("data.splits.test=holdout", r"data\.splits\.test=holdout: .* has the splits train, validation, test"),
    ("data.dataset=/no/such/dir", r"data\.dataset=/no/such/dir"),
])
def test_bad_dataset_settings_are_one_line(tmp_path, demo_rows, override, message):
    rows, _ = demo_rows
    overrides = ["data=hf", "data.label_names=null", *write_source(tmp_path, "json", rows), override]
    with pytest.raises(UserError, match=message):
        build(compose_config(tmp_path / "run", overrides))


def test_label_unseen_in_training_names_split_and_row(tmp_path, demo_rows):
    rows, _ = demo_rows
    rows = {**rows, "test": rows["test"][:5] + [("a neutral film", "neutral")]}
    overrides = ["data=hf", "data.label_names=null", *write_source(tmp_path, "json", rows)]
    with pytest.raises(UserError, match=r"json\[test\]:6: label 'neutral' never occurs in the training"):
        build(compose_config(tmp_path / "run", overrides))
