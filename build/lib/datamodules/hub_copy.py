"""Fetch a known dataset (SST-2, CoNLL-2003) from the Hugging Face hub when its files are missing,
and write it in the layout the file readers expect, so a connected machine needs no manual step.

The download goes through ``datasets`` (``hf_loading.load_splits``, the code path of ``data=hf``),
with the split mapping and the seeded dev-split derivation stated in the data config's
``download`` block. Files are written to a temporary name and renamed into place, so an
interrupted download never leaves a half-written file that a later run would read.
"""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlparse

from datamodules.hf_loading import load_splits
from homogenization.core.errors import UserError
from homogenization.core.run_record import atomic_write


def _names(split, column: str):
    """Value -> text of a column: a ClassLabel (or a sequence of them) gives its names."""
    feature = split.features[column]
    feature = getattr(feature, "feature", feature)
    names = getattr(feature, "names", None)
    return (lambda value: names[value]) if names is not None else str


def tsv_lines(split, columns: list[str]) -> list[str]:
    """A header of ``columns`` and one tab-separated row per example (labels as stored: SST-2's
    0/1), as in the GLUE TSV files."""
    lines = ["\t".join(columns)]
    for number, row in enumerate(zip(*(split[column] for column in columns)), start=1):
        line = "\t".join(str(value) for value in row)
        if line.count("\t") != len(columns) - 1 or "\n" in line or "\r" in line:
            raise UserError(f"row {number} of the hub copy holds a tab or a line break inside a "
                            "value, which a TSV cannot hold; read it with data=hf instead.")
        lines.append(line)
    return lines


def conll_lines(split, columns: list[str]) -> list[str]:
    """One word per line with ``columns`` (tokens first, then tag columns by name), a blank line
    after each sentence: the CoNLL-2003 file layout."""
    to_text = [_names(split, column) for column in columns]
    lines: list[str] = []
    for values in zip(*(split[column] for column in columns)):
        for word in zip(*values):
            lines.append(" ".join(convert(value) for convert, value in zip(to_text, word)))
        lines.append("")
    return lines


WRITERS = {"tsv": tsv_lines, "conll": conll_lines}


def hub_unreachable() -> str | None:
    """Why the Hugging Face hub cannot be reached now (offline mode set, its host does not
    resolve), or None. Checked first, so that a machine without a network gets its one line at
    once instead of after ``huggingface_hub``'s retries (about 25 s of warnings)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    host = urlparse(constants.ENDPOINT).hostname or constants.ENDPOINT
    try:
        socket.getaddrinfo(host, 443)
    except OSError as error:
        return f"{host} cannot be resolved: no network ({error.strerror or error})"
    return None


def fetch_missing(files: dict[str, Path], download: dict, source: str) -> None:
    """Write every split of ``files`` from the hub dataset described by ``download`` (keys
    ``dataset``, ``subset``, ``splits``, ``dev_fraction``, ``dev_seed``, ``format`` and
    ``columns``). On failure (no connection, say) one line says what to fetch and where."""
    if download.get("format") not in WRITERS:
        raise UserError(f"data.download.format={download.get('format')!r}: choose one of {sorted(WRITERS)}.")
    missing = next(path for path in files.values() if not path.exists())
    offline = None if Path(download["dataset"]).exists() else hub_unreachable()
    if offline:
        raise UserError(f"{missing}: data file not found, and the Hugging Face hub cannot be reached to "
                        f"fetch it ({offline}). {source} Put the files there, or point paths.data_dir "
                        "(HOMOG_DATA_DIR) at the folder that holds them; data=demo needs no files.")
    try:
        splits = load_splits(download["dataset"], download.get("subset"), download.get("data_files"),
                             download["splits"], download.get("dev_fraction"), download.get("dev_seed", 0),
                             key="data.download")
    except UserError as error:
        raise UserError(f"{missing}: data file not found, and fetching it from the Hugging Face hub "
                        f"failed ({error}). {source} Put the files there, or point paths.data_dir "
                        "(HOMOG_DATA_DIR) at the folder that holds them; data=demo needs no files.") from None
    write = WRITERS[download["format"]]
    for split, path in files.items():
        data = ("\n".join(write(splits[split], list(download["columns"]))) + "\n").encode("utf-8")
        atomic_write(path, lambda handle, data=data: handle.write(data))
