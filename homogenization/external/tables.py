"""Reading a predictions table (CSV, TSV, JSONL, Parquet) and naming its rows in messages.

Text tables are read through the data readers' ``read_text_file`` (``encoding=``; gzip, bzip2, xz;
a BOM; undecodable bytes named by line with the ``encoding=`` to set), so messages name a row by
the line its record starts on as an editor shows it: after quoted fields that span lines and
after blank lines, which pandas' row numbers do not count. JSONL is parsed line by line, so a
malformed line is named too. Parquet rows are numbered from 0.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from datamodules.readers import read_text_file
from homogenization.core.errors import UserError

READERS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".parquet": "parquet"}


class RowPlaces:
    """``places(i)``: where data row i of the table is, ``file:line`` or ``file (row i)``. The line
    of each record is found only when a message first needs one (a million-row table that is
    fine costs nothing)."""

    def __init__(self, path: Path, text: str | None = None, delimiter: str = ",",
                 lines: np.ndarray | None = None):
        self.path, self._text, self._delimiter, self._lines = path, text, delimiter, lines

    def _record_lines(self) -> np.ndarray:
        reader = csv.reader(io.StringIO(self._text), delimiter=self._delimiter)
        starts, previous_end = [], 0
        for fields in reader:
            if fields:                     # pandas skips blank lines too
                starts.append(previous_end + 1)
            previous_end = reader.line_num
        return np.array(starts[1:])        # the header is not a data row

    def __call__(self, index: int) -> str:
        if self._lines is None and self._text is not None:
            self._lines = self._record_lines()
        if self._lines is None or index >= len(self._lines):
            return f"{self.path} (row {index})"
        return f"{self.path}:{int(self._lines[index])}"


def read_table(path: Path, encoding: str = "utf-8") -> tuple[pd.DataFrame, RowPlaces]:
    """The table as strings (labels and ids are names, never numbers), and where its rows are."""
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise UserError(f"{path}: not a table this reads; name it .csv, .tsv, .jsonl or .parquet")
    if not path.is_file():
        raise UserError(f"{path}: no such file; table= names the predictions file")
    if kind == "parquet":
        try:
            return pd.read_parquet(path), RowPlaces(path)
        except (ValueError, OSError) as error:
            raise UserError(f"{path}: cannot be read as parquet ({_first_line(error)})") from None
    text = read_text_file(path, encoding, "table=", encoding_key="encoding")
    if kind == "jsonl":
        return _jsonl(path, text)
    delimiter = "," if kind == "csv" else "\t"
    try:
        table = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as error:
        raise UserError(f"{path}: cannot be read as {kind} ({_first_line(error)})") from None
    return table, RowPlaces(path, text, delimiter)


def _jsonl(path: Path, text: str) -> tuple[pd.DataFrame, RowPlaces]:
    records, lines = [], []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise UserError(f"{path}:{number}: not JSON ({error.msg} at column {error.colno}); a .jsonl "
                            "table has one JSON object per line") from None
        if not isinstance(record, dict):
            raise UserError(f"{path}:{number}: a JSON {type(record).__name__}, not an object with the "
                            "table's columns; a .jsonl table has one JSON object per line")
        records.append(record)
        lines.append(number)
    return pd.DataFrame.from_records(records), RowPlaces(path, lines=np.array(lines))


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
