"""Hugging Face ``datasets`` as a data source: a hub id or a local builder (csv, json, parquet, or a
``save_to_disk`` directory), for sentence classification (``data=hf``) and token classification
(``data=hf_ner``).

The examples are read into the same ``LabelledTexts`` / ``TaggedSentences`` as the file readers,
so the same checks apply (empty text, label unseen in training, ...) and the same examples give
the same fingerprint whichever way they were read. Class names come from a ``ClassLabel`` feature
when the dataset has one. Errors name the dataset, split and row (1-based), and the fix.
"""

from __future__ import annotations

from pathlib import Path

from datamodules.conll import TaggedSentences, iob1_to_iob2
from datamodules.hf_loading import DatasetSource
from datamodules.readers import LabelledTexts
from datamodules.text_classification import TextClassificationDataModule
from datamodules.token_classification import TokenClassificationDataModule
from homogenization.core.errors import UserError


def _column(split, column: str, dataset: str, name: str, key: str) -> list:
    if column not in split.column_names:
        raise UserError(f"data.dataset={dataset} [{name}]: no column '{column}' (columns: "
                        f"{', '.join(split.column_names)}). Set {key} to one of them.")
    return split[column]


def _class_names(split, column: str) -> list[str] | None:
    feature = split.features[column]
    feature = getattr(feature, "feature", feature)   # Sequence(ClassLabel) for tags
    return list(feature.names) if hasattr(feature, "names") else None


class HFTextClassificationDataModule(TextClassificationDataModule):
    """``data=hf``: sentence classification from a ``datasets`` dataset."""

    def __init__(self, *args, dataset: str, subset: str | None = None, data_files: dict | None = None,
                 splits: dict | None = None, dev_fraction: float | None = None, dev_seed: int = 0,
                 files=None, **kwargs):
        self.hf = DatasetSource(dataset, subset, data_files, splits, dev_fraction, dev_seed)
        super().__init__(*args, files=self.hf.pseudo_files(), **kwargs)
        self.class_names: list[str] | None = None

    def read_split(self, split: str) -> LabelledTexts:
        rows, dataset = self.hf.split(split), self.hf.name
        options = self.table_options
        texts = _column(rows, options["text_column"], dataset, split, "data.text_column")
        labels = _column(rows, options["label_column"], dataset, split, "data.label_column")
        names = _class_names(rows, options["label_column"])
        if names is not None:
            self.class_names = names
            labels = [names[label] if isinstance(label, int) and label >= 0 else label
                      for label in labels]
        result = LabelledTexts(path=Path(f"{dataset}[{split}]"))
        for row, (text, label) in enumerate(zip(texts, labels), start=1):
            where = f"data.dataset={dataset} [{split}] row {row}"
            label = "" if label is None else str(label)
            if text is not None and not isinstance(text, str):
                raise UserError(f"{where}: data.text_column={options['text_column']} holds a "
                                f"{type(text).__name__} ({str(text)[:40]}...), not text; name the field "
                                "that holds the text (a nested field: flatten it first)")
            if label.strip() == "-1":
                raise UserError(f"{where}: no label (unlabelled test splits, as in GLUE, cannot be scored). "
                                "Map data.splits.test to a labelled split.")
            result.add(str(text or ""), label, row, where)
        if not result.texts:
            raise UserError(f"data.dataset={dataset} [{split}]: no examples.")
        return result

    def resolve_label_names(self, train: LabelledTexts) -> list[str]:
        if self.configured_label_names is None and self.class_names is not None:
            return list(self.class_names)   # a ClassLabel's names, in its order
        return super().resolve_label_names(train)


class HFTokenClassificationDataModule(TokenClassificationDataModule):
    """``data=hf_ner``: token classification (IOB tags) from a ``datasets`` dataset."""

    def __init__(self, *args, dataset: str, subset: str | None = None, data_files: dict | None = None,
                 splits: dict | None = None, dev_fraction: float | None = None, dev_seed: int = 0,
                 tokens_column: str = "tokens", tags_column: str = "ner_tags", files=None, **kwargs):
        self.hf = DatasetSource(dataset, subset, data_files, splits, dev_fraction, dev_seed)
        self.columns = (tokens_column, tags_column)
        super().__init__(*args, files=self.hf.pseudo_files(), **kwargs)

    def read_split(self, split: str) -> TaggedSentences:
        rows, dataset = self.hf.split(split), self.hf.name
        tokens = _column(rows, self.columns[0], dataset, split, "data.tokens_column")
        tags = _column(rows, self.columns[1], dataset, split, "data.tags_column")
        names = _class_names(rows, self.columns[1])
        result = TaggedSentences(path=Path(f"{dataset}[{split}]"))
        for row, (words, labels) in enumerate(zip(tokens, tags), start=1):
            labels = [names[t] if names is not None and isinstance(t, int) else str(t) for t in labels]
            if len(words) != len(labels):
                raise UserError(f"data.dataset={dataset} [{split}] row {row}: {len(words)} tokens but "
                                f"{len(labels)} tags. Check data.tokens_column and data.tags_column.")
            bad = [t for t in labels if not (t == "O" or t[:2] in ("B-", "I-"))]
            if bad:
                raise UserError(f"data.dataset={dataset} [{split}] row {row}: tag {bad[0]!r} is not O, "
                                "B-TYPE or I-TYPE. Check data.tags_column.")
            if words:
                result.tokens.append([str(w) for w in words])
                result.tags.append(iob1_to_iob2(labels))
                result.lines.append(row)
        if not result.tokens:
            raise UserError(f"data.dataset={dataset} [{split}]: no sentences.")
        return result
