"""Encoders: plain ``nn.Module``s mapping token ids to hidden states.

Every encoder has ``hidden_size`` and two methods, so one file serves every task:
- ``sequence_representation(input_ids, attention_mask) -> [batch, hidden_size]``
- ``token_representations(input_ids, attention_mask) -> [batch, length, hidden_size]``

What an encoder class declares it needs is passed when it is built (training/recipe.py:
build_encoder): ``needs_vocabulary = True``: ``vocabulary``, the sub-word string of every id;
``task_features``: the names of constructor arguments the task decides (``task.encoder.<name>``:
bidirectional reading, shape embedding, token dropout) unless the model config sets them;
``needs_labels = True``: ``label_names`` (the data's) and ``task`` (its name). An encoder with a
``head`` attribute brings its own classification head (a fine-tuned checkpoint), and one with
``evaluates_only = True`` is tested without training.
"""

from lightning_modules.encoders.bert import BertEncoder
from lightning_modules.encoders.checkpoint import CheckpointClassifier
from lightning_modules.encoders.cnn_lstm import CNNLSTMEncoder
from lightning_modules.encoders.transformer import TransformerEncoder

__all__ = ["BertEncoder", "CheckpointClassifier", "CNNLSTMEncoder", "TransformerEncoder"]
