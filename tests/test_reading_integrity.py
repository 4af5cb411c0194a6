"""Reading never changes the data silently: every malformed file is read correctly or refused with
one line naming file, line and fix (docs/bad_input.md #32-#45)."""

import bz2
import gzip
import os
import re
import zipfile

import pytest

from datamodules.conll import read_conll
from datamodules.readers import encode_labels, read_labelled_table, resolve_label_names
from homogenization.core.errors import UserError
from tests.helpers import write_tsv


def read(path, **options):
    return read_labelled_table(path, text_column="text", label_column="label", **options)


def write(path, text: str, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


ROWS = "".join(f"sentence {i}\t{i % 2}\n" for i in range(300))


def test_stray_quote_cannot_merge_rows(tmp_path):
    """A text starting with a stray '"' used to swallow the following rows (300 became 110)."""
    path = write(tmp_path / "t.tsv", "text\tlabel\n" + ROWS.replace("sentence 7\t", '"sentence 7\t')
                 .replace("sentence 200\t", 'sentence" 200\t'))
    with pytest.raises(UserError, match=r"t\.tsv:9: a quoted field opens here and the field does not end "
                                        r"on this line.*data\.multiline=true.*data\.quotechar=null"):
        read(path)
    assert len(read(path, quotechar=None)) == 300   # the fix the message names reads every row


def test_unterminated_quote_names_the_line_where_it_opened(tmp_path):
    path = write(tmp_path / "t.tsv", 'text\tlabel\nfine\t1\n"never closed\t0\nmore\t1\nrows\t0\n')
    with pytest.raises(UserError, match=r"t\.tsv:3: a quoted field opens here and it is never closed"):
        read(path, multiline=True)


def test_real_multiline_csv_quoting_is_read_when_asked_for(tmp_path):
    path = write(tmp_path / "t.csv", 'text,label\n"two\nlines, and a comma",1\nplain,0\n"a ""quote""",1\n')
    table = read(path, delimiter=",", multiline=True)
    assert table.texts == ["two\nlines, and a comma", "plain", 'a "quote"']
    assert table.lines == [2, 4, 5]   # physical line where each record starts
    with pytest.raises(UserError, match=r"t\.csv:2: a quoted field opens here"):
        read(path, delimiter=",")


def test_quote_inside_a_quoted_field_is_named(tmp_path):
    path = write(tmp_path / "t.tsv", 'text\tlabel\n"hi" there\t1\n')
    with pytest.raises(UserError, match=r"t\.tsv:2: a \" inside a quoted field"):
        read(path)


@pytest.mark.parametrize("spellings", [("1", "1.0"), ("1", "01"), ("0", "0.0"), ("2", "+2")])
def test_one_number_spelled_two_ways_is_refused(tmp_path, spellings):
    a, b = spellings
    b_pattern = re.escape(b)
    train = read(write_tsv(tmp_path / "train.tsv", [("x", a), ("y", "3"), ("z", b)]))
    with pytest.raises(UserError, match=rf"train\.tsv:4: label '{b_pattern}' is the number of label '{a}' "
                                        r"\(line 2\)"):
        resolve_label_names(train, None)
    names = resolve_label_names(read(write_tsv(tmp_path / "t2.tsv", [("x", a), ("y", "3")])), None)
    test = read(write_tsv(tmp_path / "test.tsv", [("x", b)]))
    with pytest.raises(UserError, match=rf"test\.tsv:2: label '{b_pattern}' is the number of label '{a}'"):
        encode_labels(test, names, configured=False)


def test_non_ascii_digit_label_is_a_plain_label(tmp_path):
    """'²'.isdigit() is True but int('²') fails: it used to be a traceback."""
    train = read(write_tsv(tmp_path / "t.tsv", [("a", "²"), ("b", "1")]))
    names = resolve_label_names(train, None)
    assert sorted(names) == sorted(["1", "²"])
    with pytest.raises(UserError, match=r"t\.tsv:2: label '²' is not in data\.label_names"):
        encode_labels(train, ["neg", "pos"], configured=True)


def test_duplicated_header_name_is_refused_when_it_is_used(tmp_path):
    path = write(tmp_path / "t.tsv", "text\tlabel\ttext\na\t1\tb\n")
    with pytest.raises(UserError, match=r"t\.tsv:1: the header names 2 columns 'text' "
                                        r"\(0-based columns 0, 2\)"):
        read(path)
    assert read_labelled_table(path, text_column=2, label_column="label").texts == ["b"]


def test_byte_order_mark_is_not_part_of_the_first_column(tmp_path):
    path = write(tmp_path / "t.tsv", "\ufefftext\tlabel\nok\t1\n")
    assert read(path).texts == ["ok"]
    conll = write(tmp_path / "t.conll", "\ufeffEU B-ORG\nrejects O\n")
    assert read_conll(conll).tokens == [["EU", "rejects"]]


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress])
def test_compressed_files_are_read(tmp_path, compress):
    path = tmp_path / "t.tsv.gz"
    path.write_bytes(compress(b"text\tlabel\nok\t1\nfine\t0\n"))
    assert read(path).texts == ["ok", "fine"]


def test_zip_archive_and_damaged_gzip_are_named(tmp_path):
    archive = tmp_path / "t.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("t.tsv", "text\tlabel\nok\t1\n")
    with pytest.raises(UserError, match=r"t\.zip: this file is a zip archive: unzip it"):
        read(archive)
    damaged = tmp_path / "d.tsv.gz"
    damaged.write_bytes(gzip.compress(b"text\tlabel\n" * 100)[:30])
    with pytest.raises(UserError, match=r"d\.tsv\.gz: a damaged gzip file"):
        read(damaged)


def test_binary_file_is_not_offered_another_encoding(tmp_path):
    path = tmp_path / "t.bin"
    path.write_bytes(b"text\tlabel\n\x00\x01\x02\t1\n")
    with pytest.raises(UserError, match=r"t\.bin:2: a NUL byte: this is a binary file"):
        read(path, encoding="latin-1")


def test_directory_and_fifo_are_named_for_what_they_are(tmp_path):
    with pytest.raises(UserError, match=r"is a directory, not a data file"):
        read(tmp_path)
    fifo = tmp_path / "pipe.tsv"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match=r"pipe\.tsv: is not a regular file"):   # and never blocks
        read(fifo)


def test_field_above_the_csv_module_limit_is_read(tmp_path):
    long_text = "word " * 40000   # 200,000 characters, above csv's 131,072 default
    path = write(tmp_path / "t.tsv", f'text\tlabel\n"{long_text}"\t1\n{long_text}\t0\n')
    assert [len(t) for t in read(path).texts] == [len(long_text.strip())] * 2


@pytest.mark.parametrize("separator", ["\u2028", "\u0085", "\u2029", "\x0c", "\r"])
def test_unicode_line_separators_stay_inside_their_line(tmp_path, separator):
    path = write(tmp_path / "t.tsv", f"text\tlabel\na{separator}b\t1\nlast\t0\nbad\trow\textra\n")
    with pytest.raises(UserError, match=r"t\.tsv:4: expected 2 columns"):   # physical line numbers
        read(path)
    conll = write(tmp_path / "t.conll", f"EU B-ORG\nx{separator}y O\n\nGermany B-LOC\nbad B-LOC extra\n")
    with pytest.raises(UserError, match=r"t\.conll:5: expected 2 columns, found 3"):
        read_conll(conll)
    good = write(tmp_path / "g.conll", f"EU B-ORG\nx{separator}y O\n\nGermany B-LOC\n")
    assert read_conll(good).tokens == [["EU", f"x{separator}y"], ["Germany"]]
    assert read_conll(good).lines == [1, 4]


def test_windows_line_endings(tmp_path):
    path = write(tmp_path / "t.tsv", "text\tlabel\r\nok\t1\r\nfine\t0\r\n")
    assert read(path).labels == ["1", "0"]


def test_headerless_file_gets_the_header_fix(tmp_path):
    path = write(tmp_path / "t.tsv", "a fine film\t1\na dull film\t0\n")
    with pytest.raises(UserError, match=r"t\.tsv:1: no column 'text' .* looks like data.*data\.header=false"):
        read(path)
    assert read_labelled_table(path, text_column=0, label_column=1, header=False).texts == ["a fine film",
                                                                                             "a dull film"]


def test_labels_numbered_from_one_get_the_offset_fix(tmp_path):
    split = read(write_tsv(tmp_path / "t.tsv", [("a", "1"), ("b", "4"), ("c", "2")]))   # AG News style
    with pytest.raises(UserError, match=r"t\.tsv:3: label 4 with 4 data\.label_names: integer labels index "
                                        r"the names from 0.*look numbered from 1"):
        encode_labels(split, ["world", "sports", "business", "science"], configured=True)
