"""Learning rate per step: a linear warm-up, then a linear decay to `final_lr_ratio` x the peak at the last step.

Why this shape: the warm-up keeps Adam's first updates (whose second-moment estimate is still noise) from kicking the
zero-initialised LoRA B matrices too hard; a linear decay to 0.1x is what the official suffix config uses, and over
the short runs this endpoint allows (100 to 20 000 steps) it differs little from a cosine while being easy to read
off a plot. The floor above zero keeps the last steps useful instead of spending them at a vanishing rate.

The schedule is a pure function of the step, so resuming needs only the step counter: there is no scheduler object
whose hidden state could drift from the checkpoint.
"""

from __future__ import annotations

import torch


def lr_at(step: int, *, peak: float, total: int, warmup: int, final_ratio: float) -> float:
    """The learning rate for optimizer step `step` (0-based) of `total`."""
    assert 0 <= step < total, f"step {step} outside [0, {total})"
    if step < warmup:
        return peak * (step + 1) / (warmup + 1)
    decay_span = max(total - 1 - warmup, 1)
    progress = (step - warmup) / decay_span  # 0 at the end of warm-up, 1 at the last step
    return peak * (1.0 - (1.0 - final_ratio) * progress)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
