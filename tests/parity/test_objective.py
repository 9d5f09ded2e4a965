"""The training objective against the official noiser and the documented formulas of the official suffix strategy
(ltx-trainer `flexible.py`, `timestep_samplers.py`; not in the registry, so written here from its documented facts)."""

from __future__ import annotations

import math

import pytest
import torch
from ltx_core.components.noisers import GaussianNoiser
from ltx_core.types import LatentState

from ltxcore.train.objective import masked_mse, noise_with_suffix, sample_sigmas, sampler_shift, video_suffix_mask


def official_noised(x0: torch.Tensor, generated: torch.Tensor, sigma: float, seed: int) -> torch.Tensor:
    """The official GaussianNoiser on one sample [1, N, C]: noise scaled by sigma * denoise_mask."""
    state = LatentState(
        latent=x0, denoise_mask=generated[None, :, None].float(), positions=torch.zeros(1), clean_latent=x0
    )
    return GaussianNoiser(torch.Generator().manual_seed(seed))(state, noise_scale=sigma).latent


def test_noised_input_target_timesteps_masks_and_loss_match_the_official_strategy() -> None:
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(2, 12, 128, generator=gen)  # [B, N, C]: 3 latent frames of 2x2 tokens
    pred = torch.randn(2, 12, 128, generator=gen)
    suffix = video_suffix_mask(3, 2, 2, 1)  # the last latent frame clean
    sigmas = [0.35, 0.9]
    noise = torch.cat([torch.randn(1, 12, 128, generator=torch.Generator().manual_seed(10 + i)) for i in range(2)])
    ours = noise_with_suffix(x0, suffix, torch.tensor(sigmas), noise)
    diffs = {}
    for i, s in enumerate(sigmas):
        noisy = official_noised(x0[i : i + 1], ~suffix, s, seed=10 + i)  # the same noise draw
        diffs[f"noisy[{i}]"] = float((ours.noisy[i] - noisy[0]).abs().max())
        # Official suffix condition: timestep = sigma on generated tokens, 0 on the suffix; loss only where generated.
        assert torch.equal(ours.timestep[i], torch.where(suffix, 0.0, s).float())
        assert torch.equal(ours.loss_mask[i], ~suffix)
    assert torch.equal(ours.target, noise - x0)  # official target: noise - x0
    # Official loss: mean over (tokens, channels) of mask * err^2, divided by the mean of the mask: [B].
    mask = (~suffix).float()[None, :, None].expand(2, 12, 1)
    official_loss = ((pred - ours.target) ** 2 * mask).mean(dim=(1, 2)) / mask.mean(dim=(1, 2))
    loss = masked_mse(pred, ours.target, ours.loss_mask)
    diffs["loss"] = float((loss - official_loss).abs().max())
    print("objective max differences:", diffs)
    assert max(diffs.values()) < 1e-6


def official_sigmas(normal: torch.Tensor, uniform: torch.Tensor, prob: torch.Tensor, tokens: int) -> torch.Tensor:
    """The official shifted logit-normal sampler, from its documented steps, on given draws (its own constants)."""
    mu = 0.95 + (2.05 - 0.95) / (4096 - 1024) * (tokens - 1024)
    lo, hi = 1 / (1 + math.exp(-(mu - 2.5758))), 1 / (1 + math.exp(-(mu + 3.0902)))
    raw = (torch.sigmoid(normal + mu) - lo) / (hi - lo)
    stretched = torch.where(raw >= 1e-3, raw, 2e-3 - raw).clamp(0, 1)
    return torch.where(prob > 0.1, stretched, (1 - 1e-3) * uniform + 1e-3)


@pytest.mark.parametrize(("tokens", "mu"), [(93, 0.6167), (1024, 0.95), (4096, 2.05), (6120, 2.7747), (6912, 3.0583)])
def test_the_sigma_sampler_shift_and_draws_match_the_official_sampler(tokens: int, mu: float) -> None:
    assert sampler_shift(tokens) == pytest.approx(mu, abs=1e-4)
    n = 4096
    ours = sample_sigmas(n, tokens, torch.Generator().manual_seed(tokens))
    gen = torch.Generator().manual_seed(tokens)  # the same three draws, in the official order
    normal, uniform, prob = torch.randn(n, generator=gen), torch.rand(n, generator=gen), torch.rand(n, generator=gen)
    theirs = official_sigmas(normal, uniform, prob, tokens)
    diff = float((ours - theirs).abs().max())
    print(f"{tokens} tokens: mu {sampler_shift(tokens):.4f}, max sigma difference {diff:.2e}")
    assert diff < 1e-4  # the official percentile constants are rounded to 4 decimals; ours are exact
    assert float(ours.std()) > 0.1  # real spread, not a constant on both sides
