"""LightningDataModules, file readers and tokenization."""

from datamodules.text_classification import TextClassificationDataModule

__all__ = ["TextClassificationDataModule"]
