"""Import per-item predictions of any number of models from one table, as one run directory per
model with the guarantees of a trained run (docs/external_models.md).

The table is CSV, TSV, JSONL or Parquet, in one of two layouts:
- ``long``: one row per (model, item), with the model's predicted label and, optionally, its
  probabilities (a list per row, in the order of ``labels``);
- ``wide``: one row per item and one prediction column per model (every column that is not the
  item, gold or text column).
The items are either those of the table (its gold column, and its text column or else the item id
as the text; items keep the order of their first row), or those of a test split read by the
project's data configs (``TestSplit``: ``homog-import data=sst2``): then an item is the example's
position in the split (0, 1, ...), its text and gold label are the split's, and a gold column, if
given, must agree. Two runs on the same items in the same order, with the same texts and gold
labels, have the same test fingerprint, whether trained here or imported, and so can be analysed
together.

Refused, with the file, the row and the fix: a missing column, an item given twice for a model, a
model without a prediction for an item another model has, an item whose gold label or text differs
between rows, a label outside ``labels``, probabilities that are not finite, not one per label or
do not sum to 1, and a prediction that is not the most probable label.

An abstention (``abstain=<value>``: an answer such as "na" that is no label) is recorded as
prediction -1 with uniform probabilities: an error for error consistency and accuracy, never "the
same wrong answer", outside the label set of CAPA and of the prediction agreements
(docs/external_models.md, "Abstentions").
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from homogenization.core.errors import UserError
from homogenization.core.fingerprints import fingerprint
from homogenization.core.run_record import PROBABILITY_TOLERANCE, RunRecord, atomic_write, write_record
from homogenization.external.run_set import folder_names, write_run_set
from homogenization.external.tables import RowPlaces, read_table

log = logging.getLogger(__name__)
LAYOUTS = ("long", "wide")


@dataclass
class TestSplit:
    """A test split as the project's data configs read it: its name, label names (in the order a
    trained run's head uses), each example's text and gold label index."""

    name: str
    labels: list[str]
    texts: list[str]
    gold: list[int]


@dataclass
class Columns:
    """The table's column names (``columns.*`` of ``homog-import``)."""

    model: str = "model"
    item: str = "item"
    prediction: str = "prediction"
    gold: str = "gold"
    text: str | None = None
    probabilities: str | None = None


def _bulk_probabilities(values: np.ndarray, labels: int) -> np.ndarray | None:
    """Every row's probabilities at once, [rows, labels] float64: JSON arrays in text (CSV, TSV) as
    one JSON document, lists (Parquet, JSONL) stacked. None when any row is not such a list of
    ``labels`` numbers (the caller then finds and names that row)."""
    try:
        if all(isinstance(value, str) for value in values):
            parsed = json.loads("[" + ",".join(values) + "]")
        else:
            parsed = [list(value) for value in values]
        probs = np.array(parsed, dtype=np.float64)
    except (ValueError, TypeError):
        return None
    return probs if probs.shape == (len(values), labels) else None


def _probabilities(value, path: Path, where: str, column: str) -> list[float]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise UserError(f"{where}: column {column} holds {value[:40]!r}, not a list of probabilities "
                            "like [0.1, 0.9]") from None
    if not isinstance(value, (list, tuple, np.ndarray)):
        raise UserError(f"{where}: column {column} holds {value!r}, not a list of probabilities")
    return [float(v) for v in value]


def _long(table: pd.DataFrame, columns: Columns) -> pd.DataFrame:
    return table


def _wide(table: pd.DataFrame, columns: Columns) -> pd.DataFrame:
    """One row per (model, item) from one prediction column per model."""
    fixed = [c for c in (columns.item, columns.gold, columns.text) if c]
    models = [c for c in table.columns if c not in fixed]
    if not models:
        raise UserError(f"layout=wide: no model columns besides {fixed}")
    clashing = [c for c in (columns.model, columns.prediction) if c in models]
    if clashing:
        raise UserError(f"layout=wide: the table has a column {', '.join(map(repr, clashing))}, which the "
                        "wide layout makes from the model columns; a table with model and prediction "
                        "columns is the long layout (drop layout=wide), else rename the column")
    long = table.melt(id_vars=[c for c in fixed if c in table.columns], value_vars=models,
                      var_name=columns.model, value_name=columns.prediction)
    long.attrs["source_rows"] = np.tile(table.attrs.get("source_rows", np.arange(len(table))), len(models))
    return long


def import_predictions(table_path: Path, out: Path, layout: str = "long", columns: Columns | None = None,
                       labels: list[str] | None = None, name: str | None = None,
                       test: TestSplit | None = None, abstain: str | None = None,
                       encoding: str = "utf-8") -> list[Path]:
    """Write ``out/<model>/`` for every model of the table (see the module docstring); returns
    the run directories. ``labels``: the label names in order (default: the gold labels, sorted;
    with ``test``, its labels); ``name``: the data set's name in the records (default: the
    table's file name, or the test split's name); ``test``: the test split the items index;
    ``abstain``: the prediction value that means "no answer" (see the module docstring);
    ``encoding``: a text table's encoding.
    Every model is checked before anything is written; then the set is written whole (run_set.py)."""
    table_path, out = Path(table_path), Path(out)
    if test is not None:
        labels, name = test.labels, name or test.name
    rows, columns, where = _read_rows(table_path, layout, columns or Columns(), test, encoding)
    order, gold, texts = _items(rows, columns, where)
    abstain = None if abstain is None else str(abstain)
    if abstain is not None and abstain in (labels or []):
        raise UserError(f"abstain={abstain}: also a label of labels={list(labels)}; an abstention is an "
                        "answer that is no label (set abstain= to the value the table uses for 'no answer')")
    if abstain is not None and abstain in gold.values():
        item = next(item for item in order if gold[item] == abstain)
        raise UserError(f"{table_path}: item {item} has gold {abstain!r}, the abstain= value; a gold label "
                        "cannot be an abstention (set abstain= to the value the table uses for 'no answer')")
    names = label_names(labels, set(gold.values()))
    _check_labels(rows, columns, names, where, table_path, abstain)
    models = list(dict.fromkeys(rows[columns.model]))
    folders = folder_names(models)
    predicted = {model: _predictions(rows, columns, model, order, names, where, table_path, abstain)
                 for model in models}
    gold_index = np.array([names.index(gold[item]) for item in order])
    test_fingerprint = fingerprint((texts[item], gold[item]) for item in order)

    def write_runs(staging: Path) -> None:
        for model, (pred, probs) in predicted.items():
            _write_run(staging / folders[model], model, names, order, gold_index, pred, probs, texts,
                       test_fingerprint, name or table_path.stem, table_path, bool(columns.probabilities),
                       abstain)

    write_run_set(out, table_path, write_runs)
    log.info("imported %d models x %d items from %s into %s", len(models), len(order), table_path, out)
    return [out / folders[model] for model in models]


def _read_rows(table_path: Path, layout: str, columns: Columns, test: TestSplit | None, encoding: str):
    """(rows in the long layout with str values, the columns they are read by, where(row) -> "file:line")."""
    if layout not in LAYOUTS:
        raise UserError(f"layout={layout}: must be one of {', '.join(LAYOUTS)}")
    table, places = read_table(table_path, encoding)
    if test is not None:
        table = _items_of(table, columns, test, table_path, places)
        columns = _with_split_columns(columns)
    rows = _long(table, columns) if layout == "long" else _wide(table, columns)
    source_rows = np.asarray(rows.attrs.get("source_rows", np.arange(len(rows))))
    needed = [columns.item, columns.gold, columns.model, columns.prediction] if layout == "long" else \
        [columns.item, columns.gold]
    needed += [c for c in (columns.text, columns.probabilities) if c]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        present = ", ".join(map(str, table.columns))
        raise UserError(f"{table_path}: no column {', '.join(missing)} (it has {present}); "
                        "name the columns with columns.item=, columns.gold=, columns.model=, "
                        "columns.prediction=, columns.text=, columns.probabilities=")

    if rows.empty:
        raise UserError(f"{table_path}: no rows below the header; the table needs one row per "
                        f"{'(model, item)' if layout == 'long' else 'item'}")

    def where(index: int) -> str:
        return places(int(source_rows[index]))

    for column in (columns.item, columns.gold, columns.model, columns.prediction):
        rows[column] = rows[column].map(lambda v: "" if v is None else str(v))
    empty = np.flatnonzero((rows[[columns.item, columns.gold, columns.model]] == "").any(axis=1).to_numpy())
    if len(empty):
        raise UserError(f"{where(int(empty[0]))}: an empty item, gold or model value; every row needs them")
    return rows, columns, where


def _items(rows: pd.DataFrame, columns: Columns, where) -> tuple[np.ndarray, dict, dict]:
    """The items in the order of their first row, and each one's gold label and text (one of each)."""
    items, first_seen = np.unique(rows[columns.item].to_numpy(), return_index=True)
    order = items[np.argsort(first_seen)]
    per_item = rows.drop_duplicates(columns.item)
    gold = dict(zip(per_item[columns.item], per_item[columns.gold]))
    texts = dict(zip(per_item[columns.item], per_item[columns.text].map(str))) if columns.text else \
        {item: item for item in order}
    for column, reference in ((columns.gold, gold), *(((columns.text, texts),) if columns.text else ())):
        values = rows[column].map(str).to_numpy()
        expected = rows[columns.item].map(reference).to_numpy()
        differ = np.flatnonzero(values != expected)
        if len(differ):
            k = int(differ[0])
            raise UserError(f"{where(k)}: item {rows[columns.item].iloc[k]} has {column} {values[k]!r} here "
                            f"and {expected[k]!r} in its first row; an item has one {column}")
    return order, gold, texts


def _check_labels(rows: pd.DataFrame, columns: Columns, names: list[str], where, table_path: Path,
                  abstain: str | None) -> None:
    if len(names) < 2:
        raise UserError(f"{table_path}: the gold labels hold one label ({names}); a classification needs two "
                        "or more (list them with labels=[...])")
    answers = names if abstain is None else [*names, abstain]
    for column, allowed in ((columns.gold, names), (columns.prediction, answers)):
        unknown = np.flatnonzero(~rows[column].isin(allowed).to_numpy())
        if len(unknown):
            k = int(unknown[0])
            value = rows[column].iloc[k]
            if column == columns.gold and value == abstain:
                hint = "a gold label cannot be an abstention"
            else:
                hint = "list every label with labels=[...]" + \
                    (", or name the answer that is no label with abstain=" if abstain is None else "")
            raise UserError(f"{where(k)}: {column} {value!r} is not one of the labels {names}; {hint}")


def _predictions(rows: pd.DataFrame, columns: Columns, model: str, order: np.ndarray, names: list[str], where,
                 table_path: Path, abstain: str | None) -> tuple[np.ndarray, np.ndarray]:
    """One model's predicted label index per item, in item order (-1: an abstention), and its
    probabilities (checked; one-hot on the prediction when the table has none; uniform for an
    abstention)."""
    mine = np.flatnonzero((rows[columns.model] == model).to_numpy())
    own_items = rows[columns.item].to_numpy()[mine]
    twice = pd.Series(own_items).duplicated().to_numpy()
    if twice.any():
        k = int(mine[np.flatnonzero(twice)[0]])
        raise UserError(f"{where(k)}: model {model} has item {rows[columns.item].iloc[k]} a second time; "
                        "keep one prediction per model and item")
    if len(own_items) != len(order):
        lacking = [item for item in order if item not in set(own_items)]
        raise UserError(f"{table_path}: model {model} has no prediction for {len(lacking)} of "
                        f"{len(order)} items (first: {lacking[0]}); give every model every item, or "
                        "leave the model out")
    position = {item: k for k, item in enumerate(order)}
    arrange = mine[np.argsort([position[item] for item in own_items])]
    index_of = {label: k for k, label in enumerate(names)} | {abstain: -1}
    pred = np.array([index_of[v] for v in rows[columns.prediction].to_numpy()[arrange]])
    probs = np.full((len(pred), len(names)), 1 / len(names), dtype=np.float32)
    answered = pred >= 0
    if columns.probabilities:
        probs[answered] = _checked_probabilities(rows, arrange[answered], pred[answered],
                                                 columns.probabilities, names, where)
    else:
        probs[answered] = np.eye(len(names), dtype=np.float32)[pred[answered]]
    return pred, probs


def label_names(configured: list[str] | None, gold: set[str]) -> list[str]:
    """``labels=`` as given (each once), else the gold labels sorted: integer labels as numbers
    ('2' before '10'), others alphabetically."""
    if configured:
        twice = sorted({name for name in configured if list(configured).count(name) > 1})
        if twice:
            raise UserError(f"labels={list(configured)}: {', '.join(twice)} given twice; list each label "
                            "once, in the order of the probabilities")
        return list(configured)
    if all(label.lstrip("-").isdigit() for label in gold):
        return sorted(gold, key=int)
    return sorted(gold)


def _with_split_columns(columns: Columns) -> Columns:
    """With a test split, the gold and text columns are the split's (``_items_of`` adds them)."""
    return Columns(columns.model, columns.item, columns.prediction, "__gold", "__text", columns.probabilities)


def _items_of(table: pd.DataFrame, columns: Columns, test: TestSplit, path: Path,
              places: RowPlaces) -> pd.DataFrame:
    """The table with the split's gold label and text for each item (an example's position), its
    own gold column (if any) checked against the split's; every example of the split needed."""
    if columns.item not in table.columns:
        raise UserError(f"{path}: no column {columns.item} (the example's position in the test split of "
                        f"data={test.name}, from 0); name it with columns.item=")
    positions = []
    for index, value in enumerate(table[columns.item]):
        text = str(value).strip()
        if not text.isdigit() or int(text) >= len(test.texts):
            raise UserError(f"{places(index)}: item {value!r} is not a position in the "
                            f"test split of data={test.name} (0 to {len(test.texts) - 1})")
        positions.append(int(text))
    table = table.copy()
    table[columns.item] = [str(p) for p in positions]
    table["__gold"] = [test.labels[test.gold[p]] for p in positions]
    table["__text"] = [test.texts[p] for p in positions]
    missing = sorted(set(range(len(test.texts))) - set(positions))
    if missing:
        raise UserError(f"{path}: predictions for {len(test.texts) - len(missing)} of the {len(test.texts)} "
                        f"test examples of data={test.name} (first missing: {missing[0]}); give every "
                        "example, or leave test_data= unset to analyse the table's items alone")
    if columns.gold in table.columns:
        differ = np.flatnonzero(table[columns.gold].map(str).to_numpy() != table["__gold"].to_numpy())
        if len(differ):
            k = int(differ[0])
            raise UserError(f"{places(k)}: gold {table[columns.gold].iloc[k]!r} of item "
                            f"{positions[k]}, but data={test.name} says {table['__gold'].iloc[k]!r}; the "
                            "table's items are not the split's examples in its order")
    order = np.argsort(positions, kind="stable")
    table = table.iloc[order].drop(columns=[c for c in (columns.gold, columns.text) if c in table.columns])
    table = table.reset_index(drop=True)
    table.attrs["source_rows"] = order          # messages name the table's own rows
    return table


def _checked_probabilities(rows: pd.DataFrame, arrange: np.ndarray, pred: np.ndarray, column: str,
                           names: list[str], where) -> np.ndarray:
    probs = _bulk_probabilities(rows[column].to_numpy()[arrange], len(names))
    if probs is None:   # something is off: row by row, to name the row
        values = [_probabilities(rows[column].iloc[k], Path(), where(k), column) for k in arrange]
        for k, value in zip(arrange, values):
            if len(value) != len(names):
                raise UserError(f"{where(k)}: {len(value)} probabilities for the {len(names)} labels {names}")
        probs = np.array(values, dtype=np.float64)
    bad = ~np.isfinite(probs).all(1) | (probs < 0).any(1) | (np.abs(probs.sum(1) - 1) > PROBABILITY_TOLERANCE)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise UserError(f"{where(int(arrange[k]))}: probabilities {probs[k].tolist()} are not a distribution "
                        "(they must be finite, non-negative and sum to 1); give softmax outputs, not logits")
    off = probs[np.arange(len(pred)), pred] < probs.max(1) - 1e-6
    if off.any():
        k = int(np.flatnonzero(off)[0])
        raise UserError(f"{where(int(arrange[k]))}: the prediction {names[pred[k]]} is not the most "
                        f"probable label ({names[int(probs[k].argmax())]}) of labels {names}; the "
                        "probabilities are the source of truth. If they are in another label order, list it "
                        "with labels=[...]")
    return probs.astype(np.float32)


def _write_run(run_dir: Path, model: str, names: list[str], order: np.ndarray, gold: np.ndarray,
               pred: np.ndarray, probs: np.ndarray, texts: dict, test_fingerprint: str, data_name: str,
               table: Path, with_probabilities: bool, abstain: str | None) -> None:
    """One run directory inside the import's staging folder (run_set.py moves the set into place)."""
    arrays = {"example_id": np.arange(len(order)), "label": gold, "pred": pred, "probs": probs}
    text_rows = json.dumps([texts[i] for i in order], ensure_ascii=False).encode("utf-8")
    record = RunRecord(
        status="complete", task="sequence_classification", model=model, seed=0,
        data={"name": data_name, "splits": {"test": {"fingerprint": test_fingerprint, "size": len(order)}}},
        labels=list(names), metrics={"test/accuracy": float((pred == gold).mean())},
        config={"model": {"name": model}, "seed": 0, "imported_from": str(table.resolve())},
        training={"imported": True, "probabilities": "given" if with_probabilities else
                  "one-hot on the predicted label"},
        test={"units_expected": len(order), "units_recorded": len(order), "representations": False,
              "item_ids": [str(i) for i in order], "abstain": abstain, "abstentions": int((pred < 0).sum())},
    )
    atomic_write(run_dir / "predictions" / "test.npz", lambda handle: np.savez(handle, **arrays))
    atomic_write(run_dir / "predictions" / "test_texts.json", lambda handle: handle.write(text_rows))
    write_record(run_dir, record)
