"""Readers for labelled text files. Every error names the file and line, and the fix."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from homogenization.errors import UserError


@dataclass
class LabelledTexts:
    """The rows of one split, with the line each came from (for error messages)."""

    path: Path
    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices) -> LabelledTexts:
        return LabelledTexts(self.path, [self.texts[i] for i in indices],
                             [self.labels[i] for i in indices], [self.lines[i] for i in indices])


def read_text_file(path: str | Path, encoding: str, key: str) -> str:
    """Read a whole file, turning 'missing' and 'undecodable' into one clear line each."""
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"{path}: data file not found. Point paths.data_dir (or the HOMOG_DATA_DIR "
            f"environment variable) at the folder that holds it, or fix {key}."
        )
    raw = path.read_bytes()
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise UserError(
            f"{path}:{line}: bytes that are not valid {encoding} text. Set data.encoding to the "
            f"file's encoding (for example latin-1 or cp1252) or re-save the file as UTF-8."
        ) from None
    except LookupError:
        raise UserError(f"data.encoding: unknown encoding '{encoding}'.") from None


def _column_index(column: str | int, header: list[str] | None, path: Path, key: str) -> int:
    if isinstance(column, int):
        width = len(header) if header is not None else None
        if column < 0 or (width is not None and column >= width):
            raise UserError(f"{path}:1: {key}={column} is outside the {width} columns.")
        return column
    if header is None:
        raise UserError(
            f"{key}='{column}' is a column name but data.header is false; "
            f"give a 0-based column number instead."
        )
    if column not in header:
        raise UserError(
            f"{path}:1: no column '{column}' in the header (columns: {', '.join(header)}). "
            f"Set {key} to one of them."
        )
    return header.index(column)


def read_labelled_table(
    path: str | Path,
    *,
    text_column: str | int,
    label_column: str | int,
    delimiter: str = "\t",
    header: bool = True,
    quotechar: str | None = '"',
    encoding: str = "utf-8",
    key: str = "data.files",
) -> LabelledTexts:
    """Read a CSV/TSV file of (text, label) rows. Blank lines are skipped."""
    path = Path(path)
    content = read_text_file(path, encoding, key)
    quoting = csv.QUOTE_MINIMAL if quotechar else csv.QUOTE_NONE
    reader = csv.reader(
        io.StringIO(content, newline=""), delimiter=delimiter, quotechar=quotechar or None,
        quoting=quoting,
    )
    rows = ((reader.line_num, row) for row in reader if row)
    names: list[str] | None = None
    if header:
        first = next(rows, None)
        if first is None:
            raise UserError(f"{path}:1: the file is empty; a header line was expected.")
        names = [name.strip() for name in first[1]]
    text_index = _column_index(text_column, names, path, "data.text_column")
    label_index = _column_index(label_column, names, path, "data.label_column")

    result = LabelledTexts(path=path)
    width = len(names) if names is not None else None
    for line, row in rows:
        if width is None:
            width = len(row)
        if len(row) != width:
            raise UserError(
                f"{path}:{line}: expected {width} columns, found {len(row)}. Check "
                f"data.delimiter ({delimiter!r}) and data.quotechar ({quotechar!r}), or fix the row."
            )
        if max(text_index, label_index) >= width:
            raise UserError(f"{path}:{line}: only {width} columns; check data.text_column/label_column.")
        text, label = row[text_index].strip(), row[label_index].strip()
        if not text:
            raise UserError(f"{path}:{line}: empty text. Remove the row or fill in its text.")
        if not label:
            raise UserError(f"{path}:{line}: empty label. Remove the row or fill in its label.")
        result.texts.append(text)
        result.labels.append(label)
        result.lines.append(line)
    if not result.texts:
        raise UserError(f"{path}: no examples in the file. Check data.files and data.header.")
    return result


def resolve_label_names(train: LabelledTexts, label_names: list[str] | None) -> list[str]:
    """The label set: ``label_names`` when configured, else the labels of the training split.

    Integer labels are ordered numerically (so '0', '1', ..., '10'), others alphabetically.
    """
    if label_names:
        names = [str(name) for name in label_names]
        if len(set(names)) != len(names):
            raise UserError(f"data.label_names has duplicates: {names}. List each label once.")
        return names
    unique = set(train.labels)
    if all(label.lstrip("-").isdigit() for label in unique):
        return sorted(unique, key=int)
    return sorted(unique)


def encode_labels(split: LabelledTexts, names: list[str], configured: bool) -> list[int]:
    """Map label strings to indices into ``names``.

    With configured ``label_names``, an integer label ``i`` also means ``names[i]`` (SST-2 style
    0/1 files with names such as negative/positive).
    """
    index = {name: i for i, name in enumerate(names)}
    ids = []
    for label, line in zip(split.labels, split.lines):
        if label in index:
            ids.append(index[label])
        elif configured and label.isdigit() and int(label) < len(names):
            ids.append(int(label))
        elif configured:
            raise UserError(
                f"{split.path}:{line}: label '{label}' is not in data.label_names {names}. "
                f"Add it to data.label_names or fix the row."
            )
        else:
            raise UserError(
                f"{split.path}:{line}: label '{label}' never occurs in the training split, so no "
                f"model can learn it. Fix the row, or list every label in data.label_names."
            )
    return ids
