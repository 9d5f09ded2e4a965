"""The backward-extension sampler: the clean suffix stays IN PLACE at the end of the target, exactly as in training.

Training (ltxcore.train.objective) keeps the last N/8 latent frames (and the closing audio steps) clean, at timestep 0,
in their normal sequence positions, and noises the rest. Sampling mirrors it: every lead-in token starts from noise at
sigma = 1, suffix tokens hold the clean latents with sigma 0 throughout, each step is guided in x0 space
(`guidance.guided_x0`) and taken by diffusers' Euler scheduler, and the clean suffix is re-imposed after every step.
(The stock condition pipeline would append a separately encoded keyframe copy instead: not what the LoRA learned.)
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from ltxcore.model.forward import TextBatch, VideoGeometry, pack_audio, pack_video
from ltxcore.sample.guidance import Guidance, Noisy, guided_x0
from ltxcore.sample.schedule import ltx2_scheduler


@dataclass(frozen=True)
class Placed:
    """One modality's target: clean tokens [1, N, C] (zero where generated) and `generate` [1, N] bool."""

    clean: torch.Tensor
    generate: torch.Tensor

    @property
    def tokens(self) -> int:
        return self.clean.shape[1]


def place_video_suffix(suffix: torch.Tensor, latent_frames: int) -> Placed:
    """A [128, n, h, w] clean suffix at the end of a [128, latent_frames, h, w] target, as tokens."""
    c, n, h, w = suffix.shape
    assert n < latent_frames, f"a {n}-frame suffix leaves no lead-in in {latent_frames} latent frames"
    target = suffix.new_zeros(1, c, latent_frames, h, w)  # [1, 128, F, h, w]
    target[:, :, latent_frames - n :] = suffix
    generate = torch.arange(latent_frames).repeat_interleave(h * w) < latent_frames - n  # [F*h*w]
    return Placed(clean=pack_video(target), generate=generate[None].to(suffix.device))  # [1, F*h*w, 128]


def place_audio_suffix(suffix: torch.Tensor | None, steps: int, device: torch.device) -> Placed:
    """A [8, n, 16] clean audio suffix at the end of `steps` audio steps; None: every step is generated."""
    if suffix is None:
        return Placed(
            clean=torch.zeros(1, steps, 128, device=device),
            generate=torch.ones(1, steps, dtype=torch.bool, device=device),
        )
    c, n, m = suffix.shape
    assert n < steps, f"a {n}-step audio suffix leaves no lead-in in {steps} steps"
    target = suffix.new_zeros(1, c, steps, m)  # [1, 8, T, 16]
    target[:, :, steps - n :] = suffix
    generate = torch.arange(steps, device=suffix.device) < steps - n  # [T]
    return Placed(clean=pack_audio(target), generate=generate[None])  # [1, T, 128]


@torch.no_grad()
def sample(
    transformer: torch.nn.Module,
    scheduler: FlowMatchEulerDiscreteScheduler,
    text: TextBatch,
    geometry: VideoGeometry,
    video: Placed,
    audio: Placed | None,
    guidance: Guidance,
    *,
    steps: int,
    generator: torch.Generator,
    shift_tokens: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Denoise the lead-in; returns normalised tokens: video [1, Nv, 128] and audio [1, Na, 128] (or None).

    `text`: two rows, prompt then negative prompt. Noise is drawn on the CPU from `generator`, so a seed gives the same
    start on every device.
    """
    video_sched = ltx2_scheduler(scheduler, steps, shift_tokens)
    audio_sched = ltx2_scheduler(scheduler, steps, shift_tokens)
    states = [_start(video, generator)] + ([] if audio is None else [_start(audio, generator)])
    placed = [video] + ([] if audio is None else [audio])
    with _autocast(transformer), _eval(transformer):
        for i, t in enumerate(video_sched.timesteps):
            sigma = float(video_sched.sigmas[i])
            noisy = [Noisy(x=x, sigmas=sigma * p.generate.float()) for x, p in zip(states, placed, strict=True)]
            x0s = guided_x0(
                transformer, noisy[0], noisy[1] if audio is not None else None, sigma, text, geometry, guidance
            )
            scheds, x0s = [video_sched, audio_sched][: len(states)], x0s[: len(states)]
            states = [_euler(s, x, x0, sigma, t, p) for s, x, x0, p in zip(scheds, states, x0s, placed, strict=True)]
    return states[0], (states[1] if audio is not None else None)


def _start(placed: Placed, generator: torch.Generator) -> torch.Tensor:
    """sigma = 1 on generated tokens (pure noise), the clean latents elsewhere: [1, N, C] float32."""
    noise = torch.randn(placed.clean.shape, generator=generator).to(placed.clean.device)  # [1, N, C]
    return torch.where(placed.generate[..., None], noise, placed.clean.float())


def _euler(
    sched: FlowMatchEulerDiscreteScheduler,
    x: torch.Tensor,
    x0: torch.Tensor,
    sigma: float,
    t: torch.Tensor,
    placed: Placed,
) -> torch.Tensor:
    """One scheduler step from the guided x0 ([1, N, C]), then the clean suffix put back exactly."""
    velocity = (x - x0) / sigma  # [1, N, C]; zero on suffix tokens, whose x0 is x itself
    x = sched.step(velocity, t, x, return_dict=False)[0]  # x + (sigma_next - sigma) * velocity
    return torch.where(placed.generate[..., None], x, placed.clean.float())


def _autocast(transformer: torch.nn.Module) -> contextlib.AbstractContextManager:
    """bf16 base weights with fp32 LoRA weights need autocast on CUDA (as in training); nothing to do on CPU/fp32."""
    device = next(transformer.parameters()).device
    if device.type == "cuda" and transformer.dtype != torch.float32:
        return torch.autocast("cuda", dtype=transformer.dtype)
    return contextlib.nullcontext()


@contextlib.contextmanager
def _eval(model: torch.nn.Module):
    """Eval mode for the call, then whatever mode the caller (a training loop, say) had."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)
