"""The zero-setup demo: generated data with real structure, and a run with no arguments and no
data directory (a fresh clone)."""

import collections
import os
import subprocess
import sys

import pytest

from datamodules.demo_data import (
    NEGATIVE,
    POSITIVE,
    RARE_NEGATIVE,
    RARE_POSITIVE,
    SPLITS,
    generate,
    sentiment_example,
)
from homogenization.core.run_record import read_run_json
from tests.helpers import REPO_ROOT


def rows(directory, split):
    lines = (directory / f"{split}.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "text\tlabel"
    return [tuple(line.split("\t")) for line in lines[1:]]


def test_generation_is_deterministic_and_seeded(tmp_path):
    first = generate("sentiment", tmp_path / "a")
    again = generate("sentiment", tmp_path / "b")
    other = generate("sentiment", tmp_path / "c", seed=1)
    for split in SPLITS:
        assert (first / f"{split}.tsv").read_bytes() == (again / f"{split}.tsv").read_bytes()
        assert (first / f"{split}.tsv").read_bytes() != (other / f"{split}.tsv").read_bytes()
    entities = generate("entities", tmp_path / "a")
    entities_again = generate("entities", tmp_path / "b")
    assert (entities / "train.conll").read_bytes() == (entities_again / "train.conll").read_bytes()


def test_sentiment_has_the_structure_the_demo_promises(tmp_path):
    directory = generate("sentiment", tmp_path)
    train, test = rows(directory, "train"), rows(directory, "test")
    assert [len(rows(directory, split)) for split in SPLITS] == list(SPLITS.values())
    labels = collections.Counter(label for _, label in train)
    assert abs(labels["positive"] - labels["negative"]) < 0.1 * len(train)   # balanced
    assert len({text for text, _ in test} - {text for text, _ in train}) > 0.9 * len(test)

    def share_with(words, data):
        return sum(any(w in text.split() for w in words) for text, _ in data) / len(data)

    rare = RARE_POSITIVE + RARE_NEGATIVE
    assert share_with(rare, train) < 0.02 < 0.1 < share_with(rare, test)   # rare in training only
    # Negation flips the lexicon: "is not good" is mostly negative, "is good" mostly positive.
    negated = [label for text, label in train if " not " in f" {text} " and " but " not in text
               and " and " not in text and any(f" {w}" in text for w in POSITIVE)]
    plain = [label for text, label in train if " not " not in f" {text} " and "hardly" not in text
             and "never" not in text and " but " not in text and " and " not in text
             and " with " not in text and any(text.endswith(f" {w}") for w in NEGATIVE)]
    assert negated and collections.Counter(negated)["negative"] > 0.8 * len(negated)
    assert plain and collections.Counter(plain)["negative"] > 0.8 * len(plain)


def test_label_noise_is_a_few_percent():
    import numpy as np

    rng = np.random.default_rng(5)
    flips = counted = 0
    for _ in range(6000):   # single clauses without negation: the lexicon decides, unless noise
        text, label = sentiment_example(rng, "train")
        words = text.split()
        if len(words) >= 4 and not set(words) & {"not", "never", "hardly", "but", "and", "with"}:
            expected = "positive" if words[-1] in POSITIVE + RARE_POSITIVE else "negative"
            flips += label != expected
            counted += 1
    assert counted > 1000 and 0.015 < flips / counted < 0.05   # 3% flipped


def test_entities_have_iob2_types_and_unseen_names(tmp_path):
    directory = generate("entities", tmp_path)
    def entities(split):
        words = set()
        for block in (directory / f"{split}.conll").read_text().strip().split("\n\n"):
            for row in block.splitlines():
                token, tag = row.split(" ")
                assert tag == "O" or tag[:2] in ("B-", "I-")
                if tag != "O":
                    words.add(token)
        return words
    train, test = entities("train"), entities("test")
    assert len(test - train) > 20          # names never seen in training


# demo_ner is slow: the NER task keeps its end-to-end tests in test_conll.py
@pytest.mark.parametrize("data", ["demo", pytest.param("demo_ner", marks=pytest.mark.slow)])
def test_a_fresh_clone_trains_with_no_arguments(tmp_path, data):
    """`python scripts/train.py` with no data directory (only the run directory and, for the
    entity task, data=demo_ner given): a complete record, well above chance."""
    env = {key: value for key, value in os.environ.items() if key != "HOMOG_DATA_DIR"}
    env["HOMOG_DATA_DIR"] = str(tmp_path / "no_such_data_dir")   # nothing there: like a fresh clone
    command = [sys.executable, "scripts/train.py", f"hydra.run.dir={tmp_path / 'run'}",
               f"paths.generated_dir={tmp_path / 'generated'}", f"paths.cache_dir={tmp_path / 'cache'}",
               *([] if data == "demo" else ["data=demo_ner"])]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    record = read_run_json(tmp_path / "run")
    assert record["status"] == "complete" and record["data"]["name"] == data
    score = record["metrics"]["test/acc"] if data == "demo" else record["metrics"]["test/f1"]
    assert score > 0.75, score
