"""Tasks (LightningModules) and the encoders they compose."""

from lightning_modules.sequence_classifier import SequenceClassifier

__all__ = ["SequenceClassifier"]
