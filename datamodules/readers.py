"""Readers for labelled text files. Every error names the file and line, and the fix."""

from __future__ import annotations

import bz2
import csv
import gzip
import lzma
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from homogenization.core.errors import UserError


@dataclass
class LabelledTexts:
    """The rows of one split, with the line each came from (for error messages)."""

    path: Path
    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def add(self, text: str, label: str, line: int, where: str) -> None:
        """Append a row (stripped), refusing an empty text or label; ``where`` names the row."""
        text, label = text.strip(), label.strip()
        if not text:
            raise UserError(f"{where}: empty text. Remove the row or fill in its text.")
        if not label:
            raise UserError(f"{where}: empty label. Remove the row or fill in its label.")
        self.texts.append(text)
        self.labels.append(label)
        self.lines.append(line)

    def subset(self, indices) -> LabelledTexts:
        return LabelledTexts(self.path, [self.texts[i] for i in indices],
                             [self.labels[i] for i in indices], [self.lines[i] for i in indices])


COMPRESSED = {b"\x1f\x8b": ("gzip", gzip.decompress), b"BZh": ("bzip2", bz2.decompress),
              b"\xfd7zXZ\x00": ("xz", lzma.decompress)}
ARCHIVES = {b"PK\x03\x04": "a zip archive: unzip it", b"\x28\xb5\x2f\xfd": "zstd-compressed: run zstd -d"}
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
INTEGER = re.compile(r"^[+-]?[0-9]+$")
NUMBER = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")


def read_text_file(path: str | Path, encoding: str, key: str, encoding_key: str = "data.encoding") -> str:
    """Read a whole text file (gzip, bzip2 and xz are decompressed), without a BOM. Everything
    that makes it unreadable (missing, a directory or FIFO, an archive, undecodable bytes, binary
    content) is one line naming the file and the fix (``encoding_key``: the setting that gives the
    file's encoding)."""
    path = Path(path)
    if not path.exists():
        raise UserError(
            f"{path}: data file not found. Point paths.data_dir (or the HOMOG_DATA_DIR "
            f"environment variable) at the folder that holds it, or fix {key}."
        )
    if path.is_dir():
        raise UserError(f"{path}: is a directory, not a data file. Set {key} to a file inside it.")
    if not stat.S_ISREG(path.stat().st_mode):   # a FIFO or device would block or never end
        raise UserError(f"{path}: is not a regular file (a pipe, socket or device). Set {key} to a file "
                        "on disk.")
    raw = path.read_bytes()
    for magic, (kind, decompress) in COMPRESSED.items():
        if raw.startswith(magic):
            try:
                raw = decompress(raw)
            except (OSError, EOFError, ValueError) as error:
                raise UserError(f"{path}: a damaged {kind} file ({error}). Compress it again, or give "
                                f"the uncompressed file in {key}.") from None
            break
    for magic, advice in ARCHIVES.items():
        if raw.startswith(magic):
            raise UserError(f"{path}: this file is {advice}, then point {key} at the text file.")
    if raw.startswith(UTF16_BOMS) and not encoding.lower().replace("_", "-").startswith("utf-16"):
        raise UserError(f"{path}: this file is UTF-16 text; set {encoding_key}=utf-16 or re-save it as "
                        "UTF-8.")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise UserError(
            f"{path}:{line}: bytes that are not valid {encoding} text. Set {encoding_key} to the "
            f"file's encoding (for example {encoding_key}=latin-1 or cp1252) or re-save the file as UTF-8."
        ) from None
    except LookupError:
        raise UserError(f"{encoding_key}: unknown encoding '{encoding}'.") from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise UserError(f"{path}:{line}: a NUL byte: this is a binary file, not text. Set {key} to a "
                        "text file.")
    return text.removeprefix("\ufeff")


def physical_lines(text: str) -> list[str]:
    """Lines split at ``\n`` only (``\r\n`` too): U+2028, U+0085 or a lone ``\r`` inside a line
    stay part of it, so line numbers are the ones an editor shows."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


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
        looks_like_data = any(" " in name or INTEGER.match(name) for name in header)
        fix = ("this line looks like data, not a header: if the file has no header line, set "
               "data.header=false and give data.text_column/label_column as 0-based numbers"
               if looks_like_data else f"set {key} to one of them")
        raise UserError(f"{path}:1: no column '{column}' in the header (columns: {', '.join(header)}); "
                        f"{fix}.")
    positions = [i for i, name in enumerate(header) if name == column]
    if len(positions) > 1:
        raise UserError(f"{path}:1: the header names {len(positions)} columns '{column}' (0-based columns "
                        f"{', '.join(map(str, positions))}). Rename all but one, or set {key} to a column "
                        "number.")
    return positions[0]


def _records(lines: list[str], path: Path, delimiter: str, quotechar: str | None, multiline: bool):
    """(first line number, fields) of every non-blank record. With ``quotechar``, fields follow CSV
    quoting strictly; a quoted field spans lines only with ``multiline``, else it is an error
    naming the line where its quote opened."""
    number = 0
    while number < len(lines):
        start, record = number + 1, lines[number]
        number += 1
        if not record.strip():
            continue
        if not quotechar or quotechar not in record:
            yield start, record.split(delimiter)
            continue
        while True:
            csv.field_size_limit(max(csv.field_size_limit(), len(record) + 1))
            try:
                yield start, next(csv.reader([record], delimiter=delimiter, quotechar=quotechar,
                                             strict=True))
                break
            except csv.Error as error:
                if "unexpected end of data" not in str(error):
                    raise UserError(
                        f"{path}:{start}: a {quotechar} inside a quoted field ({error}). If quotes are part "
                        f"of the text, set data.quotechar=null; in quoted text, write a quote twice."
                    ) from None
                if not multiline or number >= len(lines):
                    fix = ("it is never closed" if multiline else
                           "the field does not end on this line. If texts really span lines, set "
                           "data.multiline=true")
                    raise UserError(
                        f"{path}:{start}: a quoted field opens here and {fix}; if the {quotechar} is part "
                        f"of the text, set data.quotechar=null."
                    ) from None
                record += "\n" + lines[number]
                number += 1


def read_labelled_table(
    path: str | Path,
    *,
    text_column: str | int | list,
    label_column: str | int,
    delimiter: str = "\t",
    header: bool = True,
    quotechar: str | None = '"',
    multiline: bool = False,
    encoding: str = "utf-8",
    key: str = "data.files",
    text_separator: str = " | ",
) -> LabelledTexts:
    """Read a CSV/TSV file of (text, label) rows. Blank lines are skipped. ``text_column`` may be
    a list of columns (AG News' title and description): their texts joined by ``text_separator``."""
    path = Path(path)
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise UserError(f"data.delimiter={delimiter!r}: give one character, e.g. data.delimiter=','.")
    lines = physical_lines(read_text_file(path, encoding, key))
    rows = _records(lines, path, delimiter, quotechar or None, multiline)
    names: list[str] | None = None
    if header:
        first = next(rows, None)
        if first is None:
            raise UserError(f"{path}:1: the file is empty; a header line was expected.")
        names = [name.strip() for name in first[1]]
    text_columns = list(text_column) if isinstance(text_column, (list, tuple)) else [text_column]
    if not text_columns:
        raise UserError("data.text_column=[]: name the column (or columns) that hold the text.")
    text_indices = [_column_index(column, names, path, "data.text_column") for column in text_columns]
    label_index = _column_index(label_column, names, path, "data.label_column")
    if label_index in text_indices:
        raise UserError(f"data.text_column={text_column!r} includes the label column {label_column!r}: the "
                        "model would read the label as its text.")

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
        if max(*text_indices, label_index) >= width:
            raise UserError(f"{path}:{line}: only {width} columns; check data.text_column/label_column.")
        text = text_separator.join(row[i] for i in text_indices)
        result.add(text, row[label_index], line, f"{path}:{line}")
    if not result.texts:
        raise UserError(f"{path}: no examples in the file. Check data.files and data.header.")
    return result


def _number(label: str) -> float | None:
    return float(label) if NUMBER.match(label) else None


def check_label_spellings(split: LabelledTexts) -> None:
    """Refuse one number spelled two ways (``1``, ``1.0``, ``01``): they would be two classes."""
    seen: dict[float, tuple[str, int]] = {}
    for label, line in zip(split.labels, split.lines):
        value = _number(label)
        if value is None:
            continue
        first = seen.setdefault(value, (label, line))
        if first[0] != label:
            raise UserError(f"{split.path}:{line}: label '{label}' is the number of label '{first[0]}' "
                            f"(line {first[1]}) spelled another way; they would be two classes. Write "
                            "each label one way.")


def check_label_case(split: LabelledTexts) -> None:
    """Refuse labels that differ only in letter case (``pos``, ``Pos``): two classes for one."""
    seen: dict[str, tuple[str, int]] = {}
    for label, line in zip(split.labels, split.lines):
        first = seen.setdefault(label.casefold(), (label, line))
        if first[0] != label:
            raise UserError(f"{split.path}:{line}: label '{label}' differs from label '{first[0]}' (line "
                            f"{first[1]}) only in letter case; they would be two classes. Write each label "
                            "one way.")


def resolve_label_names(train: LabelledTexts, label_names: list[str] | None) -> list[str]:
    """The label set: ``label_names`` when configured, else the labels of the training split.

    Integer labels are ordered numerically (so '0', '1', ..., '10'), others alphabetically.
    """
    if label_names:
        names = [str(name) for name in label_names]
        if len(set(names)) != len(names):
            raise UserError(f"data.label_names has duplicates: {names}. List each label once.")
        return names
    check_label_spellings(train)
    check_label_case(train)
    unique = set(train.labels)
    if all(INTEGER.match(label) for label in unique):
        return sorted(unique, key=int)
    return sorted(unique)


def encode_labels(split: LabelledTexts, names: list[str], configured: bool, offset: int = 0) -> list[int]:
    """Map label strings to indices into ``names``.

    With configured ``label_names``, an integer label ``i`` also means ``names[i - offset]`` (SST-2
    style 0/1 files with names such as negative/positive; ``offset`` 1 for files numbered from 1,
    ``data.label_offset``).
    """
    index = {name: i for i, name in enumerate(names)}
    numbers = {_number(name): name for name in names if _number(name) is not None}
    ids = []
    for label, line in zip(split.labels, split.lines):
        if label in index:
            ids.append(index[label])
        elif configured and INTEGER.match(label) and 0 <= int(label) - offset < len(names):
            ids.append(int(label) - offset)
        elif _number(label) is not None and _number(label) in numbers:
            raise UserError(f"{split.path}:{line}: label '{label}' is the number of label "
                            f"'{numbers[_number(label)]}' spelled another way. Write each label one way.")
        elif configured and INTEGER.match(label) and offset == 0 and int(label) == len(names):
            raise UserError(
                f"{split.path}:{line}: label {label} with {len(names)} data.label_names: integer labels "
                f"index the names from 0 (0..{len(names) - 1}), and these look numbered from 1. "
                f"Set data.label_offset=1, or leave data.label_names unset to use the labels as "
                f"they are."
            )
        elif label.casefold() in {name.casefold() for name in names}:
            same = next(name for name in names if name.casefold() == label.casefold())
            raise UserError(f"{split.path}:{line}: label '{label}' differs from label '{same}' only in "
                            "letter case; write each label one way.")
        elif configured:
            raise UserError(
                f"{split.path}:{line}: label '{label}' is not in data.label_names {names}. "
                f"Add it to data.label_names or fix the row."
            )
        else:
            raise UserError(
                f"{split.path}:{line}: label '{label}' never occurs in the training split, so no "
                f"model can learn it. Fix the row, list every label in data.label_names, or set "
                f"data.unseen_labels=keep to score it anyway (every run errs on it; run.json counts it)."
            )
    return ids
