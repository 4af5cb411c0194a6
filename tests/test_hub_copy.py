"""SST-2 and CoNLL-2003 fetched when their files are missing: through the real `datasets` code
path, from local `save_to_disk` copies shaped like the hub datasets (nothing can be downloaded
here), written in the files' layout, and read back with the same fingerprints as `data=hf`."""

import os
import subprocess
import sys

import datasets
import pytest

from homogenization.training.recipe import build
from tests.helpers import REPO_ROOT, compose_config

POS, CHUNK = ["NN", "VB", "NNP", "DT"], ["O", "B-NP", "I-NP", "B-VP"]
NER = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def glue_sst2(directory, sizes=(200, 40, 30)):
    """GLUE's sst2 schema: sentence, label (ClassLabel negative/positive), idx; test unlabelled."""
    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["negative", "positive"]),
                                  "idx": datasets.Value("int32")})
    words = ["a", "moving", "dull", "film", "'s", "\"great\"", "not", "bad", "plot", "ends"]

    def split(size, offset, labelled=True):
        sentences = [" ".join(words[(i * 7 + j) % len(words)] for j in range(3 + i % 5)) + f" {offset + i} "
                     for i in range(size)]
        labels = [(i * 3 + offset) % 2 if labelled else -1 for i in range(size)]
        return datasets.Dataset.from_dict({"sentence": sentences, "label": labels,
                                           "idx": list(range(size))}, features=features)

    datasets.DatasetDict({"train": split(sizes[0], 0), "validation": split(sizes[1], 1000),
                          "test": split(sizes[2], 2000, labelled=False)}).save_to_disk(directory)
    return directory


def hub_conll2003(directory):
    """eriktks/conll2003's schema: tokens, and pos/chunk/ner tags as sequences of ClassLabels."""
    features = datasets.Features({
        "id": datasets.Value("string"), "tokens": datasets.Sequence(datasets.Value("string")),
        "pos_tags": datasets.Sequence(datasets.ClassLabel(names=POS)),
        "chunk_tags": datasets.Sequence(datasets.ClassLabel(names=CHUNK)),
        "ner_tags": datasets.Sequence(datasets.ClassLabel(names=NER))})

    def split(size, offset):
        rows = {"id": [], "tokens": [], "pos_tags": [], "chunk_tags": [], "ner_tags": []}
        for i in range(size):
            tokens = [f"Name{offset + i}", "Smith", "visited", "Paris", f"w{i % 7}"]
            rows["id"].append(str(i))
            rows["tokens"].append(tokens)
            rows["pos_tags"].append([2, 2, 1, 2, 0])
            rows["chunk_tags"].append([1, 2, 3, 1, 0])
            rows["ner_tags"].append([1, 2, 0, 5, 0] if i % 3 else [3, 4, 0, 7, 0])
        return datasets.Dataset.from_dict(rows, features=features)

    datasets.DatasetDict({"train": split(120, 0), "validation": split(30, 500),
                          "test": split(30, 900)}).save_to_disk(directory)
    return directory


def test_sst2_is_fetched_into_the_file_layout_with_the_fingerprints_of_data_hf(tmp_path):
    hub = glue_sst2(tmp_path / "hub_sst2")
    data_dir = tmp_path / "data"
    fetch = ["data=sst2", f"paths.data_dir={data_dir}", f"data.download.dataset={hub}",
             "data.download.subset=null"]
    fetched = build(compose_config(tmp_path / "fetched", fetch, fast=False))[0]
    lines = (data_dir / "sst2" / "test.tsv").read_text().splitlines()
    assert lines[0] == "sentence\tlabel" and len(lines) == 41            # GLUE validation = our test
    rows = {s: len((data_dir / "sst2" / f"{s}.tsv").read_text().splitlines()) - 1 for s in ("train", "dev")}
    assert rows == {"train": 180, "dev": 20}
    again = build(compose_config(tmp_path / "again", ["data=sst2", f"paths.data_dir={data_dir}",
                                                      "data.download=null"], fast=False))[0]
    through_datasets = build(compose_config(tmp_path / "hf", [
        "data=hf", f"data.dataset={hub}", "data.splits.dev=null", "data.splits.test=validation",
        "data.text_column=sentence", "data.dev_fraction=0.1", "data.dev_seed=0"], fast=False))[0]
    assert fetched.fingerprints == again.fingerprints == through_datasets.fingerprints
    assert fetched.sizes == {"train": 180, "dev": 20, "test": 40}
    first = {s: (data_dir / "sst2" / f"{s}.tsv").read_bytes() for s in ("train", "dev", "test")}
    for path in (data_dir / "sst2").iterdir():
        path.unlink()
    build(compose_config(tmp_path / "refetched", fetch, fast=False))
    assert {s: (data_dir / "sst2" / f"{s}.tsv").read_bytes() for s in first} == first   # seeded


def test_conll2003_is_fetched_into_the_file_layout_with_the_fingerprints_of_data_hf_ner(tmp_path):
    hub = hub_conll2003(tmp_path / "hub_conll")
    data_dir = tmp_path / "data"
    fetched = build(compose_config(tmp_path / "fetched", [
        "data=conll2003", f"paths.data_dir={data_dir}", f"data.download.dataset={hub}"], fast=False))[0]
    first_sentence = (data_dir / "conll2003" / "train.txt").read_text().split("\n\n")[0].splitlines()
    assert first_sentence == ["Name0 NNP B-NP B-ORG", "Smith NNP I-NP I-ORG", "visited VB B-VP O",
                              "Paris NNP B-NP B-MISC", "w0 NN O O"]
    through_datasets = build(compose_config(tmp_path / "hf", ["data=hf_ner", f"data.dataset={hub}"],
                                            fast=False))[0]
    assert fetched.fingerprints == through_datasets.fingerprints
    assert fetched.label_names == through_datasets.label_names


@pytest.mark.parametrize("data, hub_id, offline", [
    ("sst2", "nyu-mll/glue", {"HF_HUB_OFFLINE": "1"}),
    # no offline switch, but the hub's host does not resolve (as on a machine without a network)
    ("conll2003", "eriktks/conll2003", {"HF_ENDPOINT": "https://hub.invalid"})])
def test_offline_the_missing_files_are_one_line_naming_what_to_fetch(tmp_path, data, hub_id, offline):
    environment = {name: value for name, value in os.environ.items() if not name.startswith("HF_")}
    environment.update(offline)
    done = subprocess.run([sys.executable, "scripts/train.py", f"data={data}",
                           f"paths.data_dir={tmp_path / 'none'}", f"hydra.run.dir={tmp_path / 'run'}"],
                          cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-2000:]
    errors = [line for line in output.splitlines() if "error:" in line]
    assert len(errors) == 1 and "Traceback" not in output
    assert "data file not found, and the Hugging Face hub cannot be reached to fetch it" in errors[0]
    assert "Retrying" not in output                           # said at once, not after the retries
    assert hub_id in errors[0] and "HOMOG_DATA_DIR" in errors[0]
    assert not (tmp_path / "none" / data).exists() or not any((tmp_path / "none" / data).iterdir())
