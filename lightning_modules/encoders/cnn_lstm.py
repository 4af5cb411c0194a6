"""The classic CNN-LSTM baseline (C-LSTM, Zhou et al. 2015): convolution, then an LSTM."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from homogenization.core.errors import UserError
from lightning_modules.encoders.token_embedding import TokenEmbedding


class CNNLSTMEncoder(nn.Module):
    """embedding -> 1-D convolution (same padding, ReLU) -> [max-pooling] -> LSTM.

    Sequence tasks max-pool the convolution's output over time (``pool_size``) and take the
    LSTM's last hidden state; token tasks skip the pooling and keep one state per position.
    Padding is excluded from the LSTM (packed sequences), so a sequence's representation does not
    depend on how much padding its batch has. ``shape_embedding`` and ``token_dropout``: see
    ``token_embedding.py``.
    """

    needs_vocabulary = True   # build_encoder passes the sub-word strings (shape embedding, token dropout)
    # set by the task (task.encoder.<feature>), unless the model config sets them
    task_features = ("bidirectional", "shape_embedding", "token_dropout")

    def __init__(
        self,
        vocab_size: int,
        pad_token_id: int,
        embedding_dim: int = 128,
        num_filters: int = 128,
        kernel_size: int = 5,
        pool_size: int = 2,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.3,
        vocabulary: Sequence[str] | None = None,
        shape_embedding: bool = False,
        token_dropout: float = 0.0,
    ):
        super().__init__()
        for key, value in {"embedding_dim": embedding_dim, "num_filters": num_filters,
                           "kernel_size": kernel_size, "pool_size": pool_size,
                           "hidden_size": hidden_size, "num_layers": num_layers}.items():
            if value <= 0:
                raise UserError(f"model.encoder.{key}={value} must be positive.")
        if kernel_size % 2 == 0:
            raise UserError(f"model.encoder.kernel_size={kernel_size} must be odd (same padding).")
        self.embedding = TokenEmbedding(vocab_size, embedding_dim, pad_token_id, vocabulary,
                                        shape_embedding, token_dropout)
        self.conv = nn.Conv1d(embedding_dim, num_filters, kernel_size, padding=kernel_size // 2)
        self.pool_size = pool_size
        self.lstm = nn.LSTM(
            num_filters, hidden_size, num_layers=num_layers, batch_first=True,
            bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.directions = 2 if bidirectional else 1
        self.hidden_size = hidden_size * self.directions

    def _convolve(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """[batch, length, num_filters], zero at padding positions. The convolution sees zeros at
        padding (as beyond the text): a pad token's embedding (its shape features) would otherwise
        reach the last words and make them depend on how much padding the batch has."""
        mask = attention_mask.unsqueeze(-1).to(torch.float32)
        embedded = self.dropout(self.embedding(input_ids)) * mask
        features = torch.relu(self.conv(embedded.transpose(1, 2))).transpose(1, 2)
        return features * mask.to(features.dtype)

    def _run_lstm(self, features: torch.Tensor, lengths: torch.Tensor):
        packed = pack_padded_sequence(
            self.dropout(features), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        return self.lstm(packed)

    def sequence_representation(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        features = self._convolve(input_ids, attention_mask)
        pooled = nn.functional.max_pool1d(
            features.transpose(1, 2), self.pool_size, ceil_mode=True
        ).transpose(1, 2)
        lengths = torch.div(attention_mask.sum(dim=1) + self.pool_size - 1, self.pool_size,
                            rounding_mode="floor").clamp(min=1)
        _, (hidden, _) = self._run_lstm(pooled, lengths)
        last_layer = hidden[-self.directions:]  # [directions, batch, hidden]
        return torch.cat(list(last_layer), dim=-1)

    def token_representations(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        features = self._convolve(input_ids, attention_mask)
        output, _ = self._run_lstm(features, attention_mask.sum(dim=1).clamp(min=1))
        states, _ = pad_packed_sequence(output, batch_first=True, total_length=input_ids.shape[1])
        return states

    layer_count = 3   # embedding, convolution, LSTM

    def layer_representations(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                              per_token: bool) -> list[torch.Tensor]:
        """The embedding, convolution and LSTM outputs: per position ([B, T, H_k]) for token
        tasks; for sequences the embedding's mean and the convolution's maximum over the text, and
        the LSTM's sequence representation (the one the head sees)."""
        mask = attention_mask.unsqueeze(-1).to(torch.float32)
        embedded = self.embedding(input_ids) * mask
        convolved = self._convolve(input_ids, attention_mask)
        if per_token:
            return [embedded, convolved, self.token_representations(input_ids, attention_mask)]
        return [embedded.sum(dim=1) / mask.sum(dim=1).clamp(min=1.0), convolved.max(dim=1).values,
                self.sequence_representation(input_ids, attention_mask)]
