"""Unit by unit: units.csv (text, gold, per-group failures and predictions, K), the report's
systemic-failure section, and outcomes per entity type for NER, on synthetic records with a known
structure."""

import numpy as np
import pandas as pd

from homogenization.analysis.make_report import make_report
from homogenization.analysis.runs.synthetic_runs import write_run
from homogenization.analysis.study import Settings

RNG = np.random.default_rng(3)


def test_units_csv_and_the_systemic_failures_section(tmp_path):
    n = 200
    label = RNG.integers(0, 2, n)
    texts = [f"sentence number {i}" for i in range(n)]
    for group in ("a", "b"):
        for seed in (1, 2, 3):
            pred = np.where(RNG.random(n) < 0.1, 1 - label, label)
            pred[:3] = 1 - label[:3]                 # units 0-2: every run fails them
            pred[3] = label[3] if group == "a" else 1 - label[3]   # unit 3: only group b fails it
            pred[4:6] = label[4:6]                   # units 4-5: every run right
            write_run(tmp_path / f"{group}{seed}", pred, label, RNG.normal(size=(n, 4)), model=group,
                      seed=seed, texts=texts)
    make_report([str(tmp_path)], tmp_path / "report", ["model"], Settings(bootstrap=20))
    units = pd.read_csv(tmp_path / "report" / "units.csv")
    assert len(units) == n and list(units.text[:2]) == ["sentence number 0", "sentence number 1"]
    assert list(units.wrong_all[:6]) == [6, 6, 6, 3, 0, 0]
    assert (units.wrong_a[3], units.wrong_b[3]) == (0, 3)
    names = ["neg", "pos"]
    assert units.gold[0] == names[label[0]]
    assert units.predicted_a[0] == "; ".join([names[1 - label[0]]] * 3)
    markdown = (tmp_path / "report" / "report.md").read_text()
    section = markdown.split("## Systemic failures", 1)[1].split("\n## ", 1)[0]
    assert "| 0 | sentence number 0 |" in section and "| 3 | sentence number 3 |" in section
    assert "| 4 | sentence number 4 |" not in section


def test_entity_units_carry_their_span_and_type_and_types_get_their_own_outcomes(tmp_path):
    labels = ["O", "B-PER", "I-PER", "B-LOC"]
    sentences = [["Ann", "Lee", "met", "Bob"], ["in", "Oslo"]]
    gold = np.array([1, 2, 0, 1, 0, 3])                # entities: Ann Lee (PER), Bob (PER), Oslo (LOC)
    sentence_id = np.array([0, 0, 0, 0, 1, 1])
    for group in ("a", "b"):
        for seed in (1, 2):
            pred = gold.copy()
            pred[5] = 0                                  # every run misses Oslo
            if group == "b":
                pred[3] = 0                              # group b also misses Bob
            write_run(tmp_path / f"{group}{seed}", pred, gold, RNG.normal(size=(6, 4)), model=group,
                      seed=seed, labels=labels, sentence_id=sentence_id, texts=sentences)
    make_report([str(tmp_path)], tmp_path / "report", ["model"],
                Settings(bootstrap=20, blocks=2, knn_k=2))   # 6 word rows: k below 5
    units = pd.read_csv(tmp_path / "report" / "units.csv")
    assert list(units.entity) == ["Ann Lee", "Bob", "Oslo"] and list(units.gold) == ["PER", "PER", "LOC"]
    assert list(units.span) == ["0-1", "3-3", "1-1"] and units.text[2] == "in Oslo"
    assert list(units.wrong_all) == [0, 2, 4] and list(units.wrong_b) == [0, 2, 2]
    assert units.predicted_a[0] == "B-PER I-PER; B-PER I-PER" and units.predicted_b[1] == "O; O"
    types = pd.read_csv(tmp_path / "report" / "entity_types.csv").set_index("type")
    assert types.loc["LOC", "all_wrong"] == 1.0 and types.loc["LOC", "error_rate"] == 1.0
    assert types.loc["PER", "entities"] == 2 and types.loc["PER", "error_rate"] == 0.25
    assert "## Per entity type" in (tmp_path / "report" / "report.md").read_text()
