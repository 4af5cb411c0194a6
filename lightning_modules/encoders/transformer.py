"""A pre-LN transformer encoder trained from scratch, with absolute or relative positions."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from homogenization.core.errors import UserError
from lightning_modules.encoders.pooling import check_pooling, pool
from lightning_modules.encoders.token_embedding import TokenEmbedding

POSITIONS = ("absolute", "relative")


class RelativePositionBias(nn.Module):
    """A learned attention bias per head for each query-key distance, clipped at ``max_distance``
    (Shaw et al. 2018), shared by all layers (as in T5). A tagger then learns "the word before"
    once, not once per absolute position, and no position is ever unseen in training."""

    def __init__(self, num_heads: int, max_distance: int):
        super().__init__()
        self.max_distance = max_distance
        self.bias = nn.Embedding(2 * max_distance + 1, num_heads)
        nn.init.zeros_(self.bias.weight)

    def forward(self, attention_mask: torch.Tensor) -> torch.Tensor:
        """Additive attention mask ``[batch * heads, length, length]``; padded keys get -inf."""
        batch, length = attention_mask.shape
        positions = torch.arange(length, device=attention_mask.device)
        distance = (positions[None, :] - positions[:, None]).clamp(-self.max_distance,
                                                                    self.max_distance)
        bias = self.bias(distance + self.max_distance).permute(2, 0, 1)  # [heads, query, key]
        padded_key = (attention_mask == 0)[:, None, None, :]
        bias = bias[None].masked_fill(padded_key, float("-inf"))  # [batch, heads, query, key]
        return bias.reshape(batch * bias.shape[1], length, length)


class BiasedEncoderLayer(nn.TransformerEncoderLayer):
    """A pre-LN ``nn.TransformerEncoderLayer`` that always takes its regular path. Its inference
    fast path reads a float attention mask (our relative bias) as a boolean one and returns NaN
    (pytorch/pytorch#118628); the regular path is the one training uses anyway."""

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor | None = None,
                src_key_padding_mask: torch.Tensor | None = None,
                is_causal: bool = False) -> torch.Tensor:
        hidden = src + self._sa_block(self.norm1(src), src_mask, src_key_padding_mask,
                                      is_causal=is_causal)
        return hidden + self._ff_block(self.norm2(hidden))


class TransformerEncoder(nn.Module):
    """token embeddings -> pre-LN ``nn.TransformerEncoder`` (padding masked).

    ``position``: ``relative`` adds a learned per-head bias per clipped distance to the attention
    scores (``RelativePositionBias``; 4-7 points better on CoNLL-2003 and SST-2, docs/results.md);
    ``absolute`` adds a learned embedding per position (BERT). ``shape_embedding`` and ``token_dropout``: see
    ``token_embedding.py``.
    """

    needs_vocabulary = True   # build_encoder passes the sub-word strings (shape embedding, token dropout)
    # set by the task (task.encoder.<feature>), unless the model config sets them
    task_features = ("shape_embedding", "token_dropout")

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
        position: str = "relative",
        max_distance: int = 16,
    ):
        super().__init__()
        for key, value in {"d_model": d_model, "num_layers": num_layers, "num_heads": num_heads,
                           "ff_dim": ff_dim, "max_positions": max_positions,
                           "max_distance": max_distance}.items():
            if value <= 0:
                raise UserError(f"model.encoder.{key}={value} must be positive.")
        if d_model % num_heads:
            raise UserError(
                f"model.encoder.d_model={d_model} is not divisible by num_heads={num_heads}."
            )
        if position not in POSITIONS:
            raise UserError(f"model.encoder.position={position!r}: choose one of {POSITIONS}.")
        self.pooling = check_pooling(pooling)
        self.token_embedding = TokenEmbedding(vocab_size, d_model, pad_token_id, vocabulary,
                                              shape_embedding, token_dropout)
        self.position_embedding = (nn.Embedding(max_positions, d_model)
                                   if position == "absolute" else None)
        self.relative_bias = (RelativePositionBias(num_heads, max_distance)
                              if position == "relative" else None)
        self.dropout = nn.Dropout(dropout)
        layer_class = BiasedEncoderLayer if position == "relative" else nn.TransformerEncoderLayer
        layer = layer_class(
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
        hidden = self.token_embedding(input_ids)
        if self.relative_bias is not None:
            return self.encoder(self.dropout(hidden), mask=self.relative_bias(attention_mask))
        hidden = hidden + self.position_embedding(torch.arange(length, device=input_ids.device))
        return self.encoder(self.dropout(hidden), src_key_padding_mask=attention_mask == 0)

    def sequence_representation(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        return pool(self.token_representations(input_ids, attention_mask), attention_mask,
                    self.pooling)

    @property
    def layer_count(self) -> int:
        return len(self.encoder.layers) + 1

    def layer_representations(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                              per_token: bool) -> list[torch.Tensor]:
        """Layer 0: the embedding (with absolute positions, if any); layer k: the residual stream
        after encoder layer k; the last: the final output after the closing layer norm (the one
        the head sees). Pooled like the sequence representation for sequence tasks."""
        hidden = self.token_embedding(input_ids)
        if self.relative_bias is not None:
            arguments = {"src_mask": self.relative_bias(attention_mask)}
        else:
            positions = torch.arange(input_ids.shape[1], device=input_ids.device)
            hidden = hidden + self.position_embedding(positions)
            arguments = {"src_key_padding_mask": attention_mask == 0}
        layers = [hidden]
        for layer in self.encoder.layers:
            hidden = layer(hidden, **arguments)
            layers.append(hidden)
        layers[-1] = self.encoder.norm(hidden)
        return layers if per_token else [pool(h, attention_mask, self.pooling) for h in layers]
