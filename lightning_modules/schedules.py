"""Learning-rate schedules, built from config as partials and completed with the step count."""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from homogenization.errors import UserError


def linear_warmup_decay(
    optimizer: Optimizer, num_training_steps: int, warmup_fraction: float = 0.1
) -> LambdaLR:
    """Linear warm-up from 0 over ``warmup_fraction`` of the steps, then linear decay to 0."""
    if not 0 <= warmup_fraction < 1:
        raise UserError(f"model.scheduler.warmup_fraction={warmup_fraction} must be in [0, 1).")
    total = max(int(num_training_steps), 1)
    warmup = int(warmup_fraction * total)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return LambdaLR(optimizer, factor)
