"""Latents back to media with diffusers' own decoders: the video VAE, and the audio VAE followed by the vocoder."""

from __future__ import annotations

import numpy as np
import torch

from ltxcore.model.forward import denormalise_audio, denormalise_video, unpack_audio
from ltxcore.model.loader import Components


@torch.no_grad()
def decode_video(components: Components, latents: torch.Tensor) -> np.ndarray:
    """Normalised [1, 128, F', h, w] -> uint8 frames [8(F'-1)+1, 32h, 32w, 3]."""
    vae = components.vae
    z = denormalise_video(latents.float(), vae).to(components.device, vae.dtype)  # [1, 128, F', h, w]
    # The 2.3 VAE decodes without timestep conditioning; a checkpoint that has it gets timestep 0 (a clean latent).
    temb = torch.zeros(z.shape[0], device=z.device, dtype=z.dtype) if vae.config.timestep_conditioning else None
    pixels = vae.decode(z, temb, return_dict=False)[0]  # [1, 3, F, H, W] in [-1, 1]
    pixels = ((pixels[0].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)  # [3, F, H, W]
    return pixels.permute(1, 2, 3, 0).cpu().numpy()  # [F, H, W, 3]


@torch.no_grad()
def decode_audio(components: Components, tokens: torch.Tensor, seconds: float) -> tuple[np.ndarray, int]:
    """Normalised audio tokens [1, T, 128] -> (float32 waveform [2, round(rate * seconds)], rate).

    The audio VAE returns 4T-3 mel frames (its first step stands for one), so the vocoder output is three mel hops
    short of T/25 s; it is padded with silence at the end (or cut) to exactly `seconds`, the video's duration.
    """
    audio_vae, vocoder = components.audio_vae, components.vocoder
    latents = denormalise_audio(unpack_audio(tokens.float()), audio_vae)  # [1, 8, T, 16]
    mel = audio_vae.decode(latents.to(audio_vae.dtype), return_dict=False)[0]  # [1, 2, 4T-3, 64]
    wave = vocoder(mel.to(vocoder.dtype))[0].float().cpu().numpy()  # [2, S]
    rate = int(vocoder.config.output_sampling_rate)
    target = round(rate * seconds)
    wave = np.pad(wave, ((0, 0), (0, max(0, target - wave.shape[1]))))[:, :target]  # [2, target]
    return np.ascontiguousarray(wave, dtype=np.float32), rate
