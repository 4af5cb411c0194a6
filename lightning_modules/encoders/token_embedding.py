"""Sub-word embeddings for the encoders trained from scratch, with two regularisers for tagging.

A tagger trained from scratch learns good embeddings only for frequent sub-words; most test
entities are rare or unseen names. Two standard remedies (Collobert et al. 2011's capitalisation
feature; Lample et al. 2016's word dropout):

- **shape embedding** (``shape_embedding=True``): each sub-word's spelling class (Title case, ALL CAPS,
  lower, digits, punctuation, ... and whether it continues a word) gets an embedding shared by all
  sub-words of that class, added to the sub-word's own embedding;
- **token dropout** (``token_dropout > 0``): while training, each sub-word is replaced by [UNK]
  with that probability, keeping its shape, so the model learns to tag from context and spelling.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from homogenization.core.errors import UserError

SHAPES = ("special", "lower", "Title", "CAPS", "mixed", "digits", "alnum", "punct")
# datamodules.tokenization.SPECIAL_TOKENS; not imported, as that module imports the encoders.
SPECIAL = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}


def token_shape(token: str) -> int:
    """Shape class of a sub-word string: an index into SHAPES, + len(SHAPES) for a continuation
    piece (``##...``)."""
    if token in SPECIAL:
        return 0
    continuation = token.startswith("##") and len(token) > 2
    core = token[2:] if continuation else token
    letters = [c for c in core if c.isalpha()]
    if any(c.isdigit() for c in core):
        shape = "digits" if not letters else "alnum"
    elif not letters:
        shape = "punct"
    elif all(c.islower() for c in letters):
        shape = "lower"
    elif all(c.isupper() for c in letters):
        shape = "CAPS" if len(letters) > 1 else "Title"
    elif letters[0].isupper() and all(c.islower() for c in letters[1:]):
        shape = "Title"
    else:
        shape = "mixed"
    return SHAPES.index(shape) + (len(SHAPES) if continuation else 0)


class TokenEmbedding(nn.Module):
    """``ids -> [batch, length, dim]``: sub-word embedding (+ shape embedding), token dropout."""

    def __init__(self, vocab_size: int, dim: int, pad_token_id: int,
                 vocabulary: Sequence[str] | None = None, shape_embedding: bool = False,
                 token_dropout: float = 0.0):
        super().__init__()
        if not 0.0 <= token_dropout < 1.0:
            raise UserError(f"task.encoder.token_dropout={token_dropout} must be in [0, 1) (or set in "
                            "model.encoder.token_dropout).")
        if (shape_embedding or token_dropout) and vocabulary is None:
            raise UserError("model.encoder.shape_embedding / token_dropout need the tokenizer's "
                            "vocabulary; build the encoder with homogenization.training.recipe.build.")
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=pad_token_id)
        self.shape_embedding = nn.Embedding(2 * len(SHAPES), dim) if shape_embedding else None
        self.token_dropout = token_dropout
        self.unk_token_id = vocabulary.index("[UNK]") if token_dropout else None
        shapes = [token_shape(token) for token in vocabulary] if vocabulary is not None else []
        # Derived from the tokenizer saved with the run: rebuilt, not stored in checkpoints.
        self.register_buffer("shapes", torch.tensor(shapes, dtype=torch.long), persistent=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        ids = input_ids
        if self.training and self.token_dropout:
            droppable = self.shapes[input_ids] != 0  # never [CLS], [SEP], [PAD]
            drop = torch.rand(input_ids.shape, device=input_ids.device) < self.token_dropout
            ids = input_ids.masked_fill(drop & droppable, self.unk_token_id)
        embedded = self.embedding(ids)
        if self.shape_embedding is not None:
            embedded = embedded + self.shape_embedding(self.shapes[input_ids])
        return embedded
