"""A pretrained Hugging Face encoder (BERT or any ``AutoModel``), fine-tuned."""

from __future__ import annotations

import torch
from torch import nn

from homogenization.errors import UserError
from lightning_modules.encoders.pooling import check_pooling, pool
from lightning_modules.encoders.pretrained import check_pretrained, load_error


class BertEncoder(nn.Module):
    """``AutoModel.from_pretrained(pretrained)``; ``pretrained`` is a hub name or a local dir."""

    def __init__(self, pretrained: str, vocab_size: int, pad_token_id: int, pooling: str = "cls",
                 max_length: int | None = None):
        super().__init__()
        from transformers import AutoModel

        self.pooling = check_pooling(pooling)
        self.pretrained = check_pretrained(pretrained)
        try:
            self.model = AutoModel.from_pretrained(self.pretrained)
        except (OSError, ValueError) as error:
            raise load_error(pretrained, error) from None
        self.model.train()  # from_pretrained returns eval mode, which would silence dropout
        if getattr(self.model, "pooler", None) is not None:
            self.model.pooler = None  # unused by [CLS]/mean pooling; unused weights upset DDP
        embeddings = self.model.get_input_embeddings().num_embeddings
        if vocab_size > embeddings:
            raise UserError(
                f"model.pretrained={pretrained}: its tokenizer has {vocab_size} tokens but the "
                f"model only {embeddings} embeddings; the tokenizer belongs to another model."
            )
        positions = getattr(self.model.config, "max_position_embeddings", None)
        if max_length and positions and max_length > positions:
            raise UserError(
                f"data.max_length={max_length} is more than the {positions} positions of "
                f"model.pretrained={pretrained}; set data.max_length={positions} or less."
            )
        self.hidden_size = self.model.config.hidden_size

    def token_representations(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def sequence_representation(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        return pool(self.token_representations(input_ids, attention_mask), attention_mask,
                    self.pooling)
