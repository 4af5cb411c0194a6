"""Pool per-token hidden states into one vector per sequence."""

import torch

from homogenization.core.errors import UserError

POOLINGS = ("cls", "mean")


def check_pooling(pooling: str) -> str:
    if pooling not in POOLINGS:
        raise UserError(f"model.encoder.pooling={pooling!r}: choose one of {POOLINGS}.")
    return pooling


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """``cls``: the first position; ``mean``: the mean over non-padding positions."""
    if pooling == "cls":
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
