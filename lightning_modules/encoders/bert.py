"""A pretrained Hugging Face encoder (BERT or any ``AutoModel``), fine-tuned."""

from __future__ import annotations

import hashlib

import torch
from safetensors import SafetensorError
from torch import nn

from homogenization.core.errors import UserError
from homogenization.core.pretrained import (
    check_finite_weights,
    check_pretrained,
    load_error,
    usable_positions,
)
from lightning_modules.encoders.pooling import check_pooling, pool

FINETUNE_METHODS = ("full", "probe", "bitfit")


def check_encoder(config, pretrained: str) -> None:
    """Refuse a backbone whose tokens do not all see the whole text: a decoder-only model (its
    first token, the one [CLS] pooling reads, sees only itself) or an encoder-decoder."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    kind = config.model_type
    if getattr(config, "is_encoder_decoder", False):
        raise UserError(f"model.pretrained={pretrained}: a {kind} encoder-decoder; model=bert reads "
                        "bidirectional encoders (BERT, RoBERTa, DeBERTa, ...). Choose an encoder checkpoint.")
    if kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        raise UserError(f"model.pretrained={pretrained}: a {kind} decoder-only model, whose tokens see "
                        "only the tokens before them (its first token sees nothing else); model=bert reads "
                        "bidirectional encoders (BERT, RoBERTa, DeBERTa, ...). Choose an encoder checkpoint.")


def weights_sha256(model: nn.Module) -> str:
    """A hash of the weights (names, shapes, dtypes, values): equal iff two backbones are equal."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class BertEncoder(nn.Module):
    """``AutoModel.from_pretrained(pretrained)``; ``pretrained`` is a hub name or a local dir.

    ``finetune`` is the adaptation method: ``full`` trains every weight, ``probe`` freezes the
    backbone (kept in eval mode, so dropout is off) and trains only the task head, ``bitfit``
    trains only the backbone's bias terms and the head (Ben Zaken et al. 2022). ``init=random``
    builds the same architecture from its config with fresh weights: the control for what
    pretraining contributes. ``identity``
    (name or path, weights hash, method) goes into run.json so runs sharing a backbone can be
    grouped.
    """

    def __init__(self, pretrained: str, vocab_size: int, pad_token_id: int, pooling: str = "cls",
                 max_length: int | None = None, finetune: str = "full", init: str = "pretrained"):
        super().__init__()
        from transformers import AutoConfig, AutoModel

        if finetune not in FINETUNE_METHODS:
            raise UserError(f"model.finetune={finetune!r}: choose one of {FINETUNE_METHODS}.")
        self.finetune = finetune
        self.pooling = check_pooling(pooling)
        self.pretrained = check_pretrained(pretrained)
        if init not in ("pretrained", "random"):
            raise UserError(f"model.init={init!r}: choose pretrained or random.")
        try:
            check_encoder(AutoConfig.from_pretrained(self.pretrained), pretrained)
            if init == "pretrained":
                self.model = AutoModel.from_pretrained(self.pretrained)
            else:  # the same architecture and tokenizer, freshly initialized (seeded by seed_init)
                self.model = AutoModel.from_config(AutoConfig.from_pretrained(self.pretrained))
        except (OSError, ValueError, SafetensorError) as error:
            raise load_error(pretrained, error) from None
        if init == "pretrained":
            check_finite_weights(self.model, pretrained)
        self.model.train()  # from_pretrained returns eval mode, which would silence dropout
        if getattr(self.model, "pooler", None) is not None:
            self.model.pooler = None  # unused by [CLS]/mean pooling; unused weights upset DDP
        # After dropping the pooler: a checkpoint without one (an MLM export) would otherwise get
        # a randomly initialized pooler, and a different hash, at every load.
        self.identity = {"pretrained": self.pretrained, "init": init,
                         "sha256": weights_sha256(self.model), "finetune": finetune}
        embeddings = self.model.get_input_embeddings().num_embeddings
        if vocab_size > embeddings:
            raise UserError(
                f"model.pretrained={pretrained}: its tokenizer has {vocab_size} tokens but the "
                f"model only {embeddings} embeddings; the tokenizer belongs to another model."
            )
        positions = usable_positions(self.model)
        if max_length and positions and max_length > positions:
            raise UserError(
                f"data.max_length={max_length} is more than the {positions} positions of "
                f"model.pretrained={pretrained}; set data.max_length={positions} or less."
            )
        self.hidden_size = self.model.config.hidden_size
        for name, parameter in self.model.named_parameters():
            parameter.requires_grad = finetune == "full" or (
                finetune == "bitfit" and name.endswith("bias"))

    def train(self, mode: bool = True) -> BertEncoder:
        super().train(mode)
        if self.finetune == "probe":
            self.model.eval()  # a frozen backbone is a fixed feature extractor: no dropout
        return self

    def token_representations(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def sequence_representation(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        return pool(self.token_representations(input_ids, attention_mask), attention_mask,
                    self.pooling)

    @property
    def layer_count(self) -> int:
        return self.model.config.num_hidden_layers + 1

    def layer_representations(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                              per_token: bool) -> list[torch.Tensor]:
        """The backbone's hidden states: the embedding output, then each layer's output."""
        layers = self.model(input_ids=input_ids, attention_mask=attention_mask,
                            output_hidden_states=True).hidden_states
        return list(layers) if per_token else [pool(h, attention_mask, self.pooling) for h in layers]
