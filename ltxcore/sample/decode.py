"""Latents back to media with diffusers' own decoders: the video VAE, and the audio VAE followed by the vocoder."""

from __future__ import annotations

import numpy as np
import torch

from ltxcore.model.encoder_inputs import tensor_to_frames
from ltxcore.model.forward import denormalise_audio, denormalise_video, unpack_audio
from ltxcore.model.loader import Components
from ltxcore.model.vae_tiling import vae_tiling

# The official video decoder's values for a timestep-conditioned decoder (ltx-core `VideoDecoder`): the normalised
# latents are blended with this much noise, and the decoder is told this timestep (it multiplies by 1000 itself).
DECODE_TIMESTEP = 0.05
DECODE_NOISE_SCALE = 0.025


@torch.no_grad()
def decode_video(components: Components, latents: torch.Tensor, seed: int = 0) -> np.ndarray:
    """Normalised [1, 128, F', h, w] -> uint8 frames [8(F'-1)+1, 32h, 32w, 3].

    The 2.3 VAE decodes without timestep conditioning. A VAE whose config says its decoder is timestep-conditioned is
    decoded the official way: z <- (1 - 0.025) z + 0.025 noise (noise drawn on the CPU from `seed`), timestep 0.05.
    """
    vae = components.vae
    z = latents.float()  # [1, 128, F', h, w]
    temb = None
    if vae.config.timestep_conditioning:
        noise = torch.randn(z.shape, generator=torch.Generator().manual_seed(seed)).to(z.device)  # [1, 128, F', h, w]
        z = (1 - DECODE_NOISE_SCALE) * z + DECODE_NOISE_SCALE * noise
        temb = torch.full((z.shape[0],), DECODE_TIMESTEP, device=components.device, dtype=vae.dtype)  # [1]
    z = denormalise_video(z, vae).to(components.device, vae.dtype)  # [1, 128, F', h, w]
    ratio = vae.spatial_compression_ratio
    with vae_tiling(vae, ratio * z.shape[3], ratio * z.shape[4], components.vae_max_side):
        pixels = vae.decode(z, temb, return_dict=False)[0]  # [1, 3, F, H, W] in [-1, 1]
    return tensor_to_frames(pixels[0])  # [F, H, W, 3]


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
