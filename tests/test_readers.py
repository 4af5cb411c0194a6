"""The table reader: columns, labels, subsampling, and one clear message per bad input."""

import pytest

from datamodules.base import subsample
from datamodules.readers import encode_labels, read_labelled_table, resolve_label_names
from homogenization.core.errors import UserError
from tests.helpers import write_tsv


def read(path, **options):
    return read_labelled_table(path, text_column="text", label_column="label", **options)


def test_sst2_reads_every_row(data_dir):
    table = read_labelled_table(data_dir / "sst2" / "train.tsv", text_column="sentence",
                                label_column="label", quotechar=None)
    assert len(table) == 60614
    assert set(table.labels) == {"0", "1"}
    assert table.lines[0] == 2  # line numbers count the header


def test_csv_with_quotes_and_integer_columns(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text('5,"great, really great"\n1,"awful"\n', encoding="utf-8")
    table = read_labelled_table(path, text_column=1, label_column=0, delimiter=",", header=False)
    assert table.texts == ["great, really great", "awful"]
    assert table.labels == ["5", "1"]


def test_labels_from_training_split_sort_numerically(tmp_path):
    train = read(write_tsv(tmp_path / "t.tsv", [("a", "10"), ("b", "2"), ("c", "1")]))
    names = resolve_label_names(train, None)
    assert names == ["1", "2", "10"]
    assert encode_labels(train, names, configured=False) == [2, 1, 0]


def test_configured_names_accept_integer_labels(tmp_path):
    split = read(write_tsv(tmp_path / "t.tsv", [("a", "1"), ("b", "negative")]))
    assert encode_labels(split, ["negative", "positive"], configured=True) == [1, 0]


def test_label_seen_only_in_test_names_file_and_line(tmp_path):
    train = read(write_tsv(tmp_path / "train.tsv", [("a", "pos"), ("b", "neg")]))
    test = read(write_tsv(tmp_path / "test.tsv", [("a", "pos"), ("c", "neutral")]))
    names = resolve_label_names(train, None)
    with pytest.raises(UserError, match=r"test\.tsv:3: label 'neutral' never occurs in the train"):
        encode_labels(test, names, configured=False)


def test_label_not_in_label_names(tmp_path):
    split = read(write_tsv(tmp_path / "t.tsv", [("a", "pos"), ("b", "meh")]))
    with pytest.raises(UserError, match=r"t\.tsv:3: label 'meh' is not in data.label_names"):
        encode_labels(split, ["neg", "pos"], configured=True)


@pytest.mark.parametrize("content, message", [
    ("text\tlabel\nfine\t1\ntoo\tmany\tcolumns\n", r"bad\.tsv:3: expected 2 columns, found 3"),
    ("text\tlabel\nfine\t1\nno label column\n", r"bad\.tsv:3: expected 2 columns, found 1"),
    ("text\tlabel\nfine\t1\n  \t0\n", r"bad\.tsv:3: empty text"),
    ("text\tlabel\nfine\t\n", r"bad\.tsv:2: empty label"),
    ("sentence\tlabel\nfine\t1\n",
     r"bad\.tsv:1: no column 'text' in the header \(columns: sentence, label\)"),
    ("", r"bad\.tsv:1: the file is empty"),
    ("text\tlabel\n", r"bad\.tsv: no examples"),
])
def test_bad_rows_give_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        read(path)


def test_non_utf8_names_line_and_encoding_option(tmp_path):
    path = tmp_path / "latin.tsv"
    path.write_bytes("text\tlabel\nok\t1\ncaf\xe9\t0\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"latin\.tsv:3: .*not valid utf-8.*data\.encoding"):
        read(path)
    assert read(path, encoding="latin-1").texts[1] == "caf\xe9"


def test_missing_file_names_it_and_the_data_dir_setting(tmp_path):
    with pytest.raises(UserError, match=r"nowhere\.tsv: data file not found.*HOMOG_DATA_DIR"):
        read(tmp_path / "nowhere.tsv")


def test_subsample_is_deterministic_and_respects_both_limits():
    first = subsample(1000, 0.5, None, seed=0)
    assert len(first) == 500 and list(first) == sorted(first)
    assert (first == subsample(1000, 0.5, None, seed=0)).all()
    assert not (first == subsample(1000, 0.5, None, seed=1)).all()
    assert len(subsample(1000, 1.0, 100, seed=0)) == 100
    assert len(subsample(1000, 0.5, 100, seed=0)) == 50           # the cap first, then the fraction of it
    assert len(subsample(1000, 0.25, 4000, seed=0)) == 250        # a cap above the split changes nothing
    assert set(subsample(1000, 0.25, 400, seed=3)) <= set(subsample(1000, 1.0, 400, seed=3))   # nested
    assert len(subsample(1000, 1.0, None, seed=0)) == 1000
    for fraction, limit in [(0.0, None), (1.5, None), (1.0, 0)]:
        with pytest.raises(UserError, match="data.(train_fraction|max_train_examples)"):
            subsample(1000, fraction, limit, seed=0)


@pytest.mark.parametrize("data, what", [("sst2", "nyu-mll/glue, config sst2"),
                                        ("conll2003", "eriktks/conll2003")])
def test_a_missing_real_dataset_says_what_to_fetch_and_where(tmp_path, data, what):
    from homogenization.training.recipe import train
    from tests.helpers import compose_config

    message = rf"no_data/.*: data file not found\. .*{what}.*data=demo needs no files"
    with pytest.raises(UserError, match=message):
        train(compose_config(tmp_path / "run", [f"data={data}", f"paths.data_dir={tmp_path / 'no_data'}",
                                                "data.download=null"]))
