"""Encoders reused by the dataset stage and the sampler: clip -> normalised latents, posterior mode.

A suffix is always cut from the encoding of the whole clip (`cut_video_suffix`, `cut_audio_suffix`): the encoders are
causal, so the closing frames encoded on their own see a different context and give different latents.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ltxcore import geometry
from ltxcore.model.encoder_inputs import frames_to_tensor, log_mel, read_video_frames, read_waveform
from ltxcore.model.forward import normalise_audio, normalise_video
from ltxcore.model.loader import Components
from ltxcore.model.vae_tiling import vae_tiling

Frames = np.ndarray | str | Path  # uint8 [F, H, W, 3] or a video file


def batch_size_for(budget_bytes: int, per_item_bytes: int, items: int) -> int:
    """How many items fit the memory budget at once: at least one, at most all."""
    assert per_item_bytes > 0
    return max(1, min(items, budget_bytes // per_item_bytes))


@torch.no_grad()
def encode_video(components: Components, clips: Frames | Sequence[Frames]) -> torch.Tensor:
    """Normalised video latents: one clip -> [128, F', H', W']; a list of same-sized clips -> [B, 128, F', H', W'].

    Frames must number 8k+1 with sides multiple of 32 (F' = k+1, H' = H/32, W' = W/32).
    """
    single = isinstance(clips, np.ndarray | str | Path)
    items = [clips] if single else list(clips)
    pixels = torch.stack([frames_to_tensor(_frames(c)) for c in items])  # [B, 3, F, H, W]
    _, _, f, h, w = pixels.shape
    geometry.latent_frames(f)
    geometry.latent_size(w, h)
    vae = components.vae
    with vae_tiling(vae, h, w, components.vae_max_side):
        posterior = vae.encode(
            pixels.to(components.device, components.dtype)
        ).latent_dist.mode()  # [B, 128, F', H', W']
    latents = normalise_video(posterior.float(), vae)
    return latents[0] if single else latents


@torch.no_grad()
def encode_audio(components: Components, wavs: str | Path | Sequence[str | Path], seconds: float) -> torch.Tensor:
    """Normalised audio latents of the first `seconds` of a 16 kHz WAV: [8, T, 16] (or [B, 8, T, 16] for a list).

    T = round(25 * seconds), the one rule used in training and sampling; the encoder gives floor(100 s)/4 + 1 steps
    (one more in some cases), and the trailing extra step is dropped.
    """
    single = isinstance(wavs, str | Path)
    items = [wavs] if single else list(wavs)
    wave = torch.stack([read_waveform(p, seconds) for p in items])  # [B, 2, N]
    mel = log_mel(wave.to(components.device))  # [B, 2, T_mel, 64]
    posterior = components.audio_vae.encode(mel.to(components.dtype)).latent_dist.mode()  # [B, 8, T_enc, 16]
    steps = geometry.audio_steps(seconds)
    assert posterior.shape[2] >= steps, f"audio encoder gave {posterior.shape[2]} steps, need {steps}"
    latents = normalise_audio(posterior[:, :, :steps].float(), components.audio_vae)  # [B, 8, T, 16]
    return latents[0] if single else latents


def cut_video_suffix(latents: torch.Tensor, conditioning_frames: int) -> torch.Tensor:
    """The last N/8 latent frames of a whole-clip encoding [..., 128, F', H', W']."""
    n = geometry.suffix_latent_frames(conditioning_frames)
    assert latents.shape[-3] > n, f"{latents.shape[-3]} latent frames leave no lead-in before a {n}-frame suffix"
    return latents[..., -n:, :, :]


def cut_audio_suffix(latents: torch.Tensor, conditioning_frames: int, fps: float) -> torch.Tensor:
    """The last round(25 * N / fps) steps of a whole-clip audio encoding [..., 8, T, 16]."""
    n = geometry.audio_suffix_steps(conditioning_frames, fps)
    assert latents.shape[-2] > n, f"{latents.shape[-2]} audio steps leave no lead-in before a {n}-step suffix"
    return latents[..., -n:, :]


def _frames(clip: Frames) -> np.ndarray:
    return clip if isinstance(clip, np.ndarray) else read_video_frames(clip)
