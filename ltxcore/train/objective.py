"""The backward-extension objective: rectified flow with a clean suffix (ref `flexible.py` with a `suffix` condition).

Per sample, sigma comes from the shifted logit-normal sampler, whose shift grows with the modality's token count, and
video and audio draw theirs independently. noisy = (1 - sigma) x0 + sigma eps; the target velocity is eps - x0. The
tokens of the closing window (the suffix) stay clean: latent = x0, timestep 0, loss weight 0. Every lead-in token is
noised at sigma and carries the loss: sum over masked tokens and channels / their count, per sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

# Standard normal quantiles of the 0.5% and 99.9% percentiles: the sampler maps sigmoid(mu + these) to 0 and 1.
_Z_LOW = -2.5758293035489
_Z_HIGH = 3.0902323061678
_MIN_SIGMA = 1e-3
_UNIFORM_PROB = 0.1  # a tenth of the draws are uniform, so small and large sigmas are never starved


def sampler_shift(num_tokens: int) -> float:
    """Logit-normal mean for a modality of `num_tokens` tokens: 0.95 at 1024 tokens, +1.1 per 3072 more (unclamped)."""
    return 0.95 + 1.1 * (num_tokens - 1024) / 3072


def sample_sigmas(batch: int, num_tokens: int, generator: torch.Generator) -> Tensor:
    """Per-sample sigma in [0, 1], shifted logit-normal with a 10% uniform mix-in. Returns [batch] float32."""
    mu = sampler_shift(num_tokens)
    normal = torch.randn(batch, generator=generator) + mu  # [B]
    lo, hi = _sigmoid(mu + _Z_LOW), _sigmoid(mu + _Z_HIGH)
    sigma = (torch.sigmoid(normal) - lo) / (hi - lo)  # [B]; the percentile band stretched to [0, 1]
    # Reflect the small tail back above the floor instead of piling it up at one value.
    sigma = torch.where(sigma < _MIN_SIGMA, 2 * _MIN_SIGMA - sigma, sigma).clamp(0.0, 1.0)  # [B]
    uniform = torch.rand(batch, generator=generator) * (1 - _MIN_SIGMA) + _MIN_SIGMA  # [B]
    use_uniform = torch.rand(batch, generator=generator) < _UNIFORM_PROB  # [B]
    return torch.where(use_uniform, uniform, sigma)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def video_suffix_mask(frames: int, height: int, width: int, suffix_frames: int) -> Tensor:
    """[F*H*W] bool, True on the tokens of the last `suffix_frames` latent frames (tokens are frame-major)."""
    assert 0 < suffix_frames < frames, "the suffix must leave a lead-in"
    per_frame = torch.arange(frames).repeat_interleave(height * width)  # [F*H*W] latent frame of each token
    return per_frame >= frames - suffix_frames


def audio_suffix_mask(steps: int, suffix_steps: int) -> Tensor:
    """[T] bool, True on the last `suffix_steps` audio latent steps (one token per step)."""
    assert 0 < suffix_steps < steps, "the audio suffix must leave a lead-in"
    return torch.arange(steps) >= steps - suffix_steps


@dataclass(frozen=True)
class Noised:
    """One modality, noised for one training step. `timestep` and `sigma` are in [0, 1] (not yet x1000)."""

    noisy: Tensor  # [B, N, C] model input
    target: Tensor  # [B, N, C] velocity eps - x0
    timestep: Tensor  # [B, N] sigma on lead-in tokens, 0 on suffix tokens
    sigma: Tensor  # [B]
    loss_mask: Tensor  # [B, N] bool, True where the token counts in the loss


def noise_with_suffix(x0: Tensor, suffix: Tensor, sigma: Tensor, noise: Tensor) -> Noised:
    """Noise the lead-in of `x0` [B, N, C] at per-sample `sigma` [B]; the `suffix` tokens [N] stay clean."""
    b, n, _ = x0.shape
    generated = ~suffix.to(x0.device)  # [N]
    s = sigma.to(x0)[:, None, None]  # [B, 1, 1]
    noisy = torch.where(generated[None, :, None], (1 - s) * x0 + s * noise, x0)  # [B, N, C]
    timestep = sigma.to(x0)[:, None] * generated[None, :].to(x0)  # [B, N]
    loss_mask = generated[None, :].expand(b, n)  # [B, N]
    return Noised(noisy=noisy, target=noise - x0, timestep=timestep, sigma=sigma.to(x0), loss_mask=loss_mask)


def masked_mse(pred: Tensor, target: Tensor, loss_mask: Tensor) -> Tensor:
    """Per-sample MSE over the masked tokens and all channels: [B, N, C] x2, [B, N] -> [B] float32."""
    mask = loss_mask[..., None]  # [B, N, 1]
    # Select before squaring, and with where() rather than a multiply: then neither the value nor the gradient of a
    # suffix token can leak in, even when its prediction or target is inf or NaN (0 * NaN is NaN; where() is exact).
    diff = torch.where(mask, pred.float() - target.float(), 0.0)  # [B, N, C]
    count = mask.sum(dim=(1, 2)).float() * pred.shape[-1]  # [B] masked tokens x channels
    return diff.square().sum(dim=(1, 2)) / count.clamp_min(1.0)
