"""Tasks (LightningModules) and the encoders they compose."""

from lightning_modules.masked_lm import MaskedLanguageModel
from lightning_modules.sequence_classifier import SequenceClassifier
from lightning_modules.token_classifier import TokenClassifier

__all__ = ["MaskedLanguageModel", "SequenceClassifier", "TokenClassifier"]
