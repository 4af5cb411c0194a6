"""DataModule for labelled text files (SST-2, any CSV/TSV): one label per text."""

from __future__ import annotations

from torch.utils.data import Dataset

from datamodules.base import LabelledDataModule
from datamodules.batching import PadToLongest, TokenizedExamples
from datamodules.readers import (
    LabelledTexts,
    encode_labels,
    read_labelled_table,
    resolve_label_names,
)
from datamodules.tokenization import encode
from homogenization.core.errors import UserError
from homogenization.core.fingerprints import fingerprint


class TextClassificationDataModule(LabelledDataModule):
    """Reads ``files.{train,dev,test}`` as CSV/TSV with a text and a label column."""


    def __init__(
        self,
        *args,
        text_column: str | int | list = "text",
        label_column: str | int = "label",
        text_separator: str = " | ",
        label_offset: int = 0,
        delimiter: str = "\t",
        header: bool = True,
        quotechar: str | None = '"',
        multiline: bool = False,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        from omegaconf import OmegaConf

        if OmegaConf.is_config(text_column):
            text_column = OmegaConf.to_container(text_column)
        if str(text_column) == str(label_column):
            raise UserError(f"data.text_column and data.label_column are both {text_column!r}: the model "
                            "would read the label as its text. Set data.text_column to the column that "
                            "holds the text.")
        if isinstance(label_offset, bool) or not isinstance(label_offset, int):
            raise UserError(f"data.label_offset={label_offset!r}: give a whole number (1 when the integer "
                            "labels count from 1)")
        self.label_offset = label_offset
        self.table_options = dict(text_column=text_column, label_column=label_column,
                                  delimiter=delimiter, header=header, quotechar=quotechar,
                                  multiline=multiline, text_separator=text_separator,
                                  encoding=self.encoding)

    def read_split(self, split: str) -> LabelledTexts:
        return read_labelled_table(self.files[split], key=f"data.files.{split}",
                                   **self.table_options)

    def resolve_label_names(self, train: LabelledTexts) -> list[str]:
        return resolve_label_names(train, self.configured_label_names)

    def encode_labels(self, examples: LabelledTexts, names: list[str]) -> list[int]:
        return encode_labels(examples, names, self.configured_label_names is not None, self.label_offset)

    def fingerprint(self, examples: LabelledTexts, labels: list[int]) -> str:
        return fingerprint(zip(examples.texts, (self.label_names[i] for i in labels)))

    def training_texts(self, train: LabelledTexts) -> list[str]:
        return train.texts

    def tokenize(self, tokenizer, examples: LabelledTexts) -> dict[str, list]:
        ids, truncated = encode(tokenizer, examples.texts, self.max_length)
        return {"ids": ids, "truncated": [[int(flag)] for flag in truncated]}

    def make_dataset(self, tokens: dict[str, list], labels: list[int]) -> Dataset:
        return TokenizedExamples(tokens["ids"], labels)

    def texts_of(self, split: str) -> list[str]:
        return list(self.examples[split].texts)

    def collate(self) -> PadToLongest:
        return PadToLongest(self.pad_token_id)
