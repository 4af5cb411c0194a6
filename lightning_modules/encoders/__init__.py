"""Encoders: plain ``nn.Module``s mapping token ids to hidden states.

Every encoder has ``hidden_size`` and two methods, so one file serves every task:
- ``sequence_representation(input_ids, attention_mask) -> [batch, hidden_size]``
- ``token_representations(input_ids, attention_mask) -> [batch, length, hidden_size]``

An encoder class that sets ``needs_vocabulary = True`` also receives ``vocabulary`` (the
sub-word string of every id) when it is built (training/recipe.py: build_encoder).
"""

from lightning_modules.encoders.bert import BertEncoder
from lightning_modules.encoders.cnn_lstm import CNNLSTMEncoder
from lightning_modules.encoders.transformer import TransformerEncoder

__all__ = ["BertEncoder", "CNNLSTMEncoder", "TransformerEncoder"]
