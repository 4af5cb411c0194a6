"""LightningDataModules, file readers and tokenization."""

from datamodules.corpus import CorpusDataModule
from datamodules.text_classification import TextClassificationDataModule
from datamodules.token_classification import TokenClassificationDataModule

__all__ = ["CorpusDataModule", "TextClassificationDataModule", "TokenClassificationDataModule"]
