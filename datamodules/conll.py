"""Reader for CoNLL-style column files (one token per line, blank line between sentences).

``-DOCSTART-`` lines separate documents and are not sentences. Lines starting with
``comment_prefix`` (``#``: ``# sent_id = 3``, GermEval's ``#\tsource``) are metadata, skipped,
unless they read as a token line (``#`` as a token with a valid tag). A byte-order mark anywhere is
dropped. Tags must be ``O``, ``B-X`` or ``I-X``; IOB1 input (entities may start with ``I-``) is
converted to IOB2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from datamodules.readers import physical_lines, read_text_file
from homogenization.core.errors import UserError

TAG = re.compile(r"^(O|[BI]-\S+)$")
COLUMNS = re.compile(r"[ \t]+")


@dataclass
class TaggedSentences:
    """Sentences as token lists with their tags, and the file line where each sentence starts."""

    path: Path
    tokens: list[list[str]] = field(default_factory=list)
    tags: list[list[str]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def num_words(self) -> int:
        return sum(len(sentence) for sentence in self.tokens)

    def subset(self, indices) -> TaggedSentences:
        return TaggedSentences(self.path, [self.tokens[i] for i in indices],
                               [self.tags[i] for i in indices], [self.lines[i] for i in indices])


def iob1_to_iob2(tags: list[str]) -> list[str]:
    """An ``I-X`` that does not continue an entity of type X starts one: it becomes ``B-X``."""
    converted = []
    for i, tag in enumerate(tags):
        previous = converted[i - 1] if i else "O"
        if tag.startswith("I-") and (previous == "O" or previous[2:] != tag[2:]):
            tag = "B-" + tag[2:]
        converted.append(tag)
    return converted


def _token_and_tag(columns: list[str], line: str, where: str, width: int, separator: str | None,
                   token_column: int, tag_column: int) -> tuple[str, str]:
    """A token line's token and tag, or one line naming the file, the line and the setting to check."""
    if len(columns) == 1:
        raise UserError(f"{where}: one column ({line.strip()[:30]!r}); a CoNLL file has a token "
                        "and a tag column on every token line. Check data.separator, or the file's "
                        "format.")
    if len(columns) != width:
        raise UserError(f"{where}: expected {width} columns, found {len(columns)}. Every token "
                        f"line needs the same columns; check data.separator ({separator!r}).")
    try:
        token, tag = columns[token_column], columns[tag_column].strip()
    except IndexError:
        raise UserError(f"{where}: no column {max(token_column, tag_column)} in {width} columns; "
                        f"check data.token_column and data.tag_column.") from None
    if not TAG.match(tag):
        raise UserError(f"{where}: tag {tag!r} is not O, B-TYPE or I-TYPE (IOB1/IOB2). Check "
                        f"data.tag_column ({tag_column}) or fix the tag.")
    return token, tag


def read_conll(
    path: str | Path,
    *,
    token_column: int = 0,
    tag_column: int = -1,
    separator: str | None = None,
    encoding: str = "utf-8",
    key: str = "data.files",
    comment_prefix: str | None = "#",
) -> TaggedSentences:
    """Read sentences; ``separator`` None splits on runs of spaces and tabs ('space' and 'tab' also
    work). Lines end at ``\n`` only, and only ASCII spaces and tabs separate columns, so a token
    holding U+2028, U+0085 or a no-break space is read as one token on its own line."""
    path = Path(path)
    separator = {"space": " ", "tab": "\t"}.get(separator, separator)
    content = read_text_file(path, encoding, key)
    result = TaggedSentences(path=path)
    tokens: list[str] = []
    tags: list[str] = []
    width = None

    def end_sentence() -> None:
        if tokens:
            result.tokens.append(list(tokens))
            result.tags.append(iob1_to_iob2(tags))
            result.lines.append(start)
            tokens.clear()
            tags.clear()

    start = 1
    for number, line in enumerate(physical_lines(content), start=1):
        line = line.replace("\ufeff", "")
        if not line.strip(" \t") or line.startswith("-DOCSTART-"):
            end_sentence()
            continue
        columns = COLUMNS.split(line.strip(" \t")) if separator is None else line.split(separator)
        token_line = len(columns) == (width or len(columns)) and len(columns) > 1 \
            and TAG.match(columns[tag_column].strip())
        if comment_prefix and line.startswith(comment_prefix) and not token_line:
            continue   # metadata (# sent_id = 3), not a token with its tag
        width = width or len(columns)
        token, tag = _token_and_tag(columns, line, f"{path}:{number}", width, separator, token_column,
                                    tag_column)
        if not tokens:
            start = number
        tokens.append(token)
        tags.append(tag)
    end_sentence()
    if not result.tokens:
        raise UserError(f"{path}: no sentences in the file. Check data.files and the format.")
    return result
