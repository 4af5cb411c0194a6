"""A pre-LN transformer encoder trained from scratch."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from homogenization.errors import UserError
from lightning_modules.encoders.pooling import check_pooling, pool
from lightning_modules.encoders.token_embedding import TokenEmbedding


class TransformerEncoder(nn.Module):
    """token + learned position embeddings -> pre-LN ``nn.TransformerEncoder`` (padding masked).

    ``shape_embedding`` and ``token_dropout``: see ``token_embedding.py``.
    """

    def __init__(
        self,
        vocab_size: int,
        pad_token_id: int,
        d_model: int = 256,
        num_layers: int = 4,
        num_heads: int = 4,
        ff_dim: int = 1024,
        dropout: float = 0.1,
        max_positions: int = 512,
        pooling: str = "mean",
        vocabulary: Sequence[str] | None = None,
        shape_embedding: bool = False,
        token_dropout: float = 0.0,
    ):
        super().__init__()
        for key, value in {"d_model": d_model, "num_layers": num_layers, "num_heads": num_heads,
                           "ff_dim": ff_dim, "max_positions": max_positions}.items():
            if value <= 0:
                raise UserError(f"model.encoder.{key}={value} must be positive.")
        if d_model % num_heads:
            raise UserError(
                f"model.encoder.d_model={d_model} is not divisible by num_heads={num_heads}."
            )
        self.pooling = check_pooling(pooling)
        self.token_embedding = TokenEmbedding(vocab_size, d_model, pad_token_id, vocabulary,
                                              shape_embedding, token_dropout)
        self.position_embedding = nn.Embedding(max_positions, d_model)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            d_model, num_heads, ff_dim, dropout, activation="gelu", batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(
            layer, num_layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False
        )
        self.max_positions = max_positions
        self.hidden_size = d_model

    def token_representations(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        length = input_ids.shape[1]
        if length > self.max_positions:
            raise ValueError(f"sequence of {length} tokens > max_positions={self.max_positions}")
        positions = torch.arange(length, device=input_ids.device)
        hidden = self.dropout(self.token_embedding(input_ids) + self.position_embedding(positions))
        return self.encoder(hidden, src_key_padding_mask=attention_mask == 0)

    def sequence_representation(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        return pool(self.token_representations(input_ids, attention_mask), attention_mask,
                    self.pooling)
