"""Predictions the framework did not write: the measures of language-model studies (CAPA,
same wrong label) equal lm-sim's and the definitions, and the analysis refuses predictions files
that are not a result, whoever wrote them (one line naming the run and the fix)."""

import json

import numpy as np
import pandas as pd
import pytest
from lmsim.metrics import CAPA

from homogenization.analysis.make_report import make_report
from homogenization.analysis.runs.synthetic_runs import write_run
from homogenization.analysis.study import Settings
from homogenization.core.errors import UserError

N, LABELS = 300, ("a", "b", "c", "d")


def softmax_runs(rng, runs=4, temperature=(0.3, 3.0)):
    """Runs sharing a unit difficulty, each with its own sharpness: (gold, [probs [N, C]])."""
    gold = rng.integers(0, len(LABELS), N)
    shared = rng.normal(size=(N, len(LABELS)))
    found = []
    for run in range(runs):
        logits = shared + rng.normal(size=shared.shape) + 1.5 * np.eye(len(LABELS))[gold]
        logits = logits / temperature[run % 2]
        probs = np.exp(logits - logits.max(1, keepdims=True))
        found.append(probs / probs.sum(1, keepdims=True))
    return gold, found


def analysed(tmp_path, gold, probs, **settings):
    for index, p in enumerate(probs):
        write_run(tmp_path / f"r{index}", p.argmax(1), gold, np.random.default_rng(index).normal(size=(N, 4)),
                  model=f"m{index % 2}", seed=index, labels=LABELS, probs=p)
    make_report([str(tmp_path)], tmp_path / "report", ["model"], Settings(bootstrap=20, **settings))
    return pd.read_csv(tmp_path / "report" / "pairs.csv")


def test_capa_and_same_wrong_label_equal_the_references(tmp_path):
    gold, probs = softmax_runs(np.random.default_rng(0))
    pairs = analysed(tmp_path, gold, probs)
    for row in pairs.itertuples():
        a, b = probs[int(row.run_a[1:])], probs[int(row.run_b[1:])]
        assert row.capa == pytest.approx(CAPA(prob=True).compute_k(list(a), list(b), list(gold)), abs=1e-5)
        wrong_a, wrong_b = a.argmax(1) != gold, b.argmax(1) != gold
        both = wrong_a & wrong_b
        assert row.same_wrong == pytest.approx(np.mean(a.argmax(1)[both] == b.argmax(1)[both]), abs=1e-9)


def test_capa_tells_a_flat_model_from_an_overconfident_one_where_error_consistency_cannot(tmp_path):
    rng = np.random.default_rng(1)
    gold, (sharp, flat) = softmax_runs(rng, runs=2, temperature=(0.2, 8.0))
    pairs = analysed(tmp_path, gold, [sharp, flat])
    row = pairs.iloc[0]
    assert row.capa < row.error_consistency - 0.2


def test_the_headline_gives_capa_with_an_interval_and_the_report_defines_it(tmp_path):
    gold, probs = softmax_runs(np.random.default_rng(2))
    analysed(tmp_path, gold, probs)
    headline = json.loads((tmp_path / "report" / "homogenization.json").read_text())["headline"]
    for metric in ("capa", "same_wrong"):
        low, high = headline[metric]["across_ci"]
        assert low < headline[metric]["across"] < high
    text = (tmp_path / "report" / "report.md").read_text()
    assert "Goel et al. 2025" in text and "Kim et al. 2025" in text


def _write(tmp_path, rng, probs=None, pred=None, drop=None):
    gold = rng.integers(0, 2, N)
    for index in range(2):
        p = np.full((N, 2), 0.5) if probs is None else probs
        p = np.where(np.arange(2)[None] == gold[:, None], 0.7, 0.3) if probs is None else p
        run_pred = p.argmax(1) if pred is None else pred
        path = write_run(tmp_path / f"r{index}", run_pred, gold, rng.normal(size=(N, 4)), model=f"m{index}",
                         seed=index, probs=p)
    if drop:
        with np.load(path / "predictions" / "test.npz") as data:
            arrays = {k: data[k] for k in data.files if k != drop}
        np.savez(path / "predictions" / "test.npz", **arrays)
    return path


@pytest.mark.parametrize("fault, words", [
    ("sum", "are not a distribution"),
    ("pred", "pred is not the most probable label"),
    ("missing", "no probs column"),
    ("width", "one column per label"),
])
def test_predictions_that_are_not_a_result_are_refused_with_one_line(tmp_path, fault, words):
    rng = np.random.default_rng(3)
    if fault == "sum":
        _write(tmp_path, rng, probs=np.full((N, 2), 1.0))
    elif fault == "pred":
        gold_like = np.tile([0.75, 0.25], (N, 1))
        _write(tmp_path, rng, probs=gold_like, pred=np.ones(N, dtype=int))
    elif fault == "missing":
        _write(tmp_path, rng, drop="probs")
    else:
        _write(tmp_path, rng, probs=np.full((N, 3), 1 / 3))
    with pytest.raises(UserError, match=words) as error:
        make_report([str(tmp_path)], tmp_path / "report", ["model"], Settings(bootstrap=10))
    assert "\n" not in str(error.value) and "test.npz" in str(error.value)


# -- homog-import ---------------------------------------------------------------------------------

def _leaderboard(rng, models=10, items=200, labels=LABELS):
    """A long table of ``models`` models' answers with probabilities, sharing hard items."""
    gold = rng.integers(0, len(labels), items)
    hard = rng.normal(size=(items, len(labels)))
    rows = []
    for m in range(models):
        logits = hard + rng.normal(size=hard.shape) + (1 + m / 4) * np.eye(len(labels))[gold]
        probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        for item in range(items):
            rows.append({"model": f"lm-{m}", "item": f"q{item}", "gold": labels[gold[item]],
                         "text": f"question {item}?", "prediction": labels[int(probs[item].argmax())],
                         "probs": json.dumps([round(float(p), 6) for p in probs[item] / probs[item].sum()])})
    table = pd.DataFrame(rows)
    return table


def _cli(*args, cwd=None):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=cwd)


def test_a_table_of_ten_models_becomes_a_report_in_two_commands(tmp_path):
    table = _leaderboard(np.random.default_rng(4))
    table.to_csv(tmp_path / "leaderboard.csv", index=False)
    done = _cli("homogenization.cli.import_predictions", f"table={tmp_path / 'leaderboard.csv'}",
                f"out={tmp_path / 'runs'}", "columns.text=text", "columns.probabilities=probs")
    assert done.returncode == 0, done.stderr
    assert "10 runs" in done.stdout
    done = _cli("homogenization.cli.analyze", f"runs={tmp_path / 'runs'}", f"out={tmp_path / 'report'}",
                "bootstrap=20", "knn_bootstrap=2")
    assert done.returncode == 0, done.stderr
    runs = pd.read_csv(tmp_path / "report" / "runs.csv")
    assert len(runs) == 10
    expected = table.assign(right=table.prediction == table.gold).groupby("model").right.mean()
    for row in runs.itertuples():
        assert row.value == pytest.approx(expected[row.run])
    text = (tmp_path / "report" / "report.md").read_text()
    assert "10 of 10 runs have no representations" in text and "CAPA" in text
    pairs = pd.read_csv(tmp_path / "report" / "pairs.csv")
    assert pairs.capa.notna().all() and pairs.linear_cka.isna().all()


@pytest.mark.parametrize("form", ["wide.tsv", "long.jsonl", "long.parquet"])
def test_every_layout_and_format_gives_the_same_runs(tmp_path, form):
    from homogenization.core.run_record import read_predictions, read_record
    from homogenization.external.predictions import Columns, import_predictions
    table = _leaderboard(np.random.default_rng(5), models=3, items=50)
    table.to_csv(tmp_path / "long.csv", index=False)
    reference = import_predictions(tmp_path / "long.csv", tmp_path / "a", columns=Columns(text="text"))
    layout, suffix = form.split(".")
    path = tmp_path / form
    if layout == "wide":
        table.pivot(index=["item", "gold", "text"], columns="model", values="prediction").reset_index() \
            .sort_values("item", key=lambda s: s.str[1:].astype(int)).to_csv(path, sep="\t", index=False)
    elif suffix == "jsonl":
        table.to_json(path, orient="records", lines=True)
    else:
        table.to_parquet(path)
    found = import_predictions(path, tmp_path / "b", layout, Columns(text="text"))
    assert [p.name for p in found] == [p.name for p in reference]
    for a, b in zip(reference, found):
        assert read_record(a).test_fingerprint == read_record(b).test_fingerprint
        np.testing.assert_array_equal(read_predictions(a)["pred"], read_predictions(b)["pred"])


@pytest.mark.parametrize("fault, words", [
    ("duplicate", "a second time"),
    ("gap", "has no prediction for 1 of"),
    ("label", "is not one of the labels"),
    ("sum", "are not a distribution"),
    ("argmax", "is not the most probable label"),
    ("column", "no column probs"),
    ("gold", "an item has one gold"),
])
def test_a_table_that_is_not_a_result_is_refused_with_its_row_and_nothing_is_written(tmp_path, fault, words):
    table = _leaderboard(np.random.default_rng(6), models=2, items=20)
    if fault == "duplicate":
        table = pd.concat([table, table.iloc[[3]]])
    elif fault == "gap":
        table = table.drop(index=5)
    elif fault == "label":
        table.loc[7, "prediction"] = "z"
    elif fault == "sum":
        table.loc[8, "probs"] = "[0.5, 0.5, 0.5, 0.5]"
    elif fault == "argmax":
        table.loc[9, "probs"] = json.dumps([0.97, 0.01, 0.01, 0.01]) if table.loc[9, "prediction"] != "a" \
            else json.dumps([0.01, 0.97, 0.01, 0.01])
    elif fault == "column":
        table = table.drop(columns="probs")
    else:
        table.loc[25, "gold"] = "d" if table.loc[25, "gold"] != "d" else "c"
    table.to_csv(tmp_path / "t.csv", index=False)
    done = _cli("homogenization.cli.import_predictions", f"table={tmp_path / 't.csv'}",
                f"out={tmp_path / 'runs'}", "columns.text=text", "columns.probabilities=probs")
    assert done.returncode == 2
    message = [line for line in done.stdout.splitlines() + done.stderr.splitlines() if "error" in line]
    assert len(message) == 1 and words in message[0] and "t.csv" in message[0], done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    if fault not in ("column",):
        assert "t.csv:" in message[0]                       # the file and its line
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_imported_and_trained_runs_on_the_same_test_items_are_analysed_together(tmp_path):
    from homogenization.analysis.make_report import make_report
    from homogenization.core.run_record import read_record
    from homogenization.external.predictions import Columns, import_predictions
    from homogenization.training.recipe import train
    from tests.helpers import compose_config

    cfg = compose_config(tmp_path / "trained", ["data=demo", "seed=1"])
    train(cfg)
    record = read_record(tmp_path / "trained")
    assert record.status == "complete"
    from datamodules.demo_data import generate
    test_file = generate("sentiment", cfg.data.generated_dir) / "test.tsv"
    test = pd.read_csv(test_file, sep="\t", dtype=str, keep_default_na=False)
    rng = np.random.default_rng(7)
    names = record.labels
    rows = [{"model": f"external-{m}", "item": str(i), "text": text, "gold": gold,
             "prediction": gold if rng.random() < 0.8 else names[1 - names.index(gold)]}
            for m in range(2) for i, (text, gold) in enumerate(zip(test.text, test.label))]
    pd.DataFrame(rows).to_csv(tmp_path / "external.csv", index=False)
    imported = import_predictions(tmp_path / "external.csv", tmp_path / "imported",
                                  columns=Columns(text="text"), labels=names)
    assert read_record(imported[0]).test_fingerprint == record.test_fingerprint
    make_report([str(tmp_path / "trained"), str(tmp_path / "imported")], tmp_path / "report", ["model"],
                Settings(bootstrap=10))
    runs = pd.read_csv(tmp_path / "report" / "runs.csv")
    assert sorted(runs.group) == ["cnn_lstm", "external-0", "external-1"]
    # keys only the trained run has (backbone, data options...) are not factors of the design
    design = pd.read_csv(tmp_path / "report" / "design.csv")
    assert list(design.factor) == ["model.name"], design


def test_prediction_measures_have_intervals_and_equal_the_references(tmp_path):
    from scipy.spatial.distance import jensenshannon
    from sklearn.metrics import cohen_kappa_score
    gold, probs = softmax_runs(np.random.default_rng(8))
    pairs = analysed(tmp_path, gold, probs, measures=["jsd", "disagreement"])
    for row in pairs.itertuples():
        a, b = probs[int(row.run_a[1:])], probs[int(row.run_b[1:])]
        assert row.jsd == pytest.approx(np.mean([jensenshannon(p, q, base=2) ** 2 for p, q in zip(a, b)]))
        assert row.disagreement == pytest.approx(np.mean(a.argmax(1) != b.argmax(1)))
        assert row.cohen_kappa == pytest.approx(cohen_kappa_score(a.argmax(1), b.argmax(1)))
    groups = pd.read_csv(tmp_path / "report" / "groups.csv")
    text = (tmp_path / "report" / "report.md").read_text()
    assert "JS divergence" in text and groups.filter(like="jsd").notna().all().all()


def test_items_of_a_data_config_get_its_texts_gold_and_fingerprint(tmp_path):
    from homogenization.core.run_record import read_record
    from tests.helpers import write_tsv
    rows = [(f"film {i} was {'good' if i % 2 else 'bad'}", "pos" if i % 2 else "neg") for i in range(40)]
    gold = ["pos" if i % 3 else "neg" for i in range(12)]
    files = {split: write_tsv(tmp_path / f"{split}.tsv", rows) for split in ("train", "dev")}
    files["test"] = write_tsv(tmp_path / "test.tsv", [(f"play {i}", gold[i]) for i in range(12)])
    table = pd.DataFrame([{"model": m, "item": i, "prediction": gold[i] if (i + m) % 4 else "pos"}
                          for m in range(2) for i in reversed(range(12))])       # any row order
    table.to_csv(tmp_path / "answers.csv", index=False)
    overrides = "[" + ",".join(f"'data.files.{s}={p}'" for s, p in files.items()) + "]"
    done = _cli("homogenization.cli.import_predictions", f"table={tmp_path / 'answers.csv'}",
                f"out={tmp_path / 'runs'}", "test_data=tsv", f"test_data_overrides={overrides}")
    assert done.returncode == 0, done.stdout + done.stderr
    from homogenization.core.fingerprints import fingerprint
    record = read_record(tmp_path / "runs" / "0")
    assert record.test_fingerprint == fingerprint((f"play {i}", gold[i]) for i in range(12))
    assert record.labels == ["neg", "pos"]
    # a gold column that disagrees with the split, and a missing example, are one line each
    table.assign(gold="pos").to_csv(tmp_path / "wrong.csv", index=False)
    table[table.item != 5].to_csv(tmp_path / "short.csv", index=False)
    for name, words in (("wrong.csv", "but data=tsv says 'neg'"),
                        ("short.csv", "for 11 of the 12 test examples")):
        done = _cli("homogenization.cli.import_predictions", f"table={tmp_path / name}",
                    f"out={tmp_path / name}-runs", "test_data=tsv", f"test_data_overrides={overrides}")
        assert done.returncode == 2 and words in done.stdout + done.stderr, done.stdout + done.stderr


# -- abstentions ----------------------------------------------------------------------------------

def _abstaining_table(rng, items=300):
    """Three models; a and b abstain ("na") on the same 60 items (no probabilities there), c never."""
    table = _leaderboard(rng, models=3, items=items)
    skipped = {f"q{i}" for i in rng.choice(items, 60, replace=False)}
    abstains = table.model.isin(["lm-0", "lm-1"]) & table["item"].isin(skipped)
    table.loc[abstains, "prediction"] = "na"
    table.loc[abstains, "probs"] = ""
    return table, abstains.to_numpy()


def test_an_abstention_is_an_error_never_the_same_wrong_answer_and_outside_capas_labels(tmp_path):
    from homogenization.core.run_record import read_record
    from homogenization.external.predictions import Columns, import_predictions

    table, abstains = _abstaining_table(np.random.default_rng(7))
    table.to_csv(tmp_path / "answers.csv", index=False)
    runs = import_predictions(tmp_path / "answers.csv", tmp_path / "runs", columns=Columns(
        text="text", probabilities="probs"), abstain="na")
    assert [read_record(r).test["abstentions"] for r in runs] == [60, 60, 0]
    make_report([str(tmp_path / "runs")], tmp_path / "report", ["model"], Settings(bootstrap=20))
    pairs = pd.read_csv(tmp_path / "report" / "pairs.csv").set_index(["run_a", "run_b"])
    accuracy = pd.read_csv(tmp_path / "report" / "runs.csv").set_index("run").value

    answers, probs = {}, {}
    for model, rows in table.groupby("model", sort=False):
        answers[model] = rows.prediction.to_numpy()
        probs[model] = np.array([json.loads(p) if p else [1 / len(LABELS)] * len(LABELS) for p in rows.probs])
    gold = table[table.model == "lm-0"].gold.to_numpy()
    for model in answers:                                   # an abstention is wrong
        assert accuracy[model] == pytest.approx(np.mean(answers[model] == gold))
    for (a, b), row in pairs.iterrows():
        wrong_a, wrong_b = answers[a] != gold, answers[b] != gold
        observed = np.mean(wrong_a == wrong_b)
        rate_a, rate_b = wrong_a.mean(), wrong_b.mean()
        chance = rate_a * rate_b + (1 - rate_a) * (1 - rate_b)
        assert row.error_consistency == pytest.approx((observed - chance) / (1 - chance), abs=1e-6)
        labelled = wrong_a & wrong_b & (answers[a] != "na") & (answers[b] != "na")
        same = np.mean(answers[a][labelled] == answers[b][labelled])
        assert row.same_wrong == pytest.approx(same, abs=1e-9)
        gold_index = np.array([LABELS.index(g) for g in gold])
        reference = CAPA(prob=True).compute_k(list(probs[a] / probs[a].sum(1, keepdims=True)),
                                              list(probs[b] / probs[b].sum(1, keepdims=True)),
                                              list(gold_index))
        assert row.capa == pytest.approx(reference, abs=1e-5)
    # the 60 shared abstentions would be 60 "same wrong answers" if "na" were a label
    both_na = (answers["lm-0"] == "na") & (answers["lm-1"] == "na")
    assert both_na.sum() == 60 and pairs.loc[("lm-0", "lm-1")].same_wrong < 0.9


@pytest.mark.parametrize("fault, words", [
    ("label", "abstain=b: also a label of labels=['a', 'b', 'c', 'd']"),
    ("gold", "a gold label cannot be an abstention"),
    ("unset", "name the answer that is no label with abstain="),
])
def test_an_abstention_setting_that_cannot_hold_is_one_line(tmp_path, fault, words):
    from homogenization.external.predictions import Columns, import_predictions

    table, _ = _abstaining_table(np.random.default_rng(8), items=80)
    table["probs"] = table.probs.where(table.probs != "", "[0.25,0.25,0.25,0.25]")
    if fault == "gold":
        table.loc[table["item"] == "q3", "gold"] = "na"
    table.to_csv(tmp_path / "answers.csv", index=False)
    abstain = {"label": "b", "gold": "na", "unset": None}[fault]
    labels = list(LABELS) if fault == "label" else None
    with pytest.raises(UserError) as error:
        import_predictions(tmp_path / "answers.csv", tmp_path / "runs", columns=Columns(text="text"),
                           labels=labels, abstain=abstain)
    assert words in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "runs").exists()
