"""The one call into `LTX2VideoTransformer3DModel`, shared by training and sampling, plus the token helpers.

Contract of `predict_velocity` (what diffusers 0.42.1 needs, checked against its source):
- sigmas come in [0, 1]; the transformer wants them times 1000 (`timestep_scale_multiplier`), and multiplies nothing
  itself, so the x1000 happens here and only here.
- per-token video sigma [B, Nv] (0 on clean suffix tokens) and a per-sample sigma [B]; LTX-2.3 needs the latter for the
  prompt cross-attention AdaLN and the cross-modal gates. Audio likewise; with audio off, one placeholder audio token
  runs with `isolate_modalities=True`, which leaves the video output independent of it (tested).
- RoPE positions come from the latent geometry and fps (seconds on the time axis, see `ltxcore.geometry`).

Cross-modal timesteps (`cross_timestep`): the official ltx-core, which trained 2.3 and which ComfyUI follows, feeds the
a2v/v2a scale-shift with each modality's OWN per-token timesteps and the gate with the OTHER modality's sigma.
diffusers offers only both-own (`use_cross_timestep=False`) or both-other (`True`). The default "ref" reproduces the
official split exactly: diffusers runs with `use_cross_timestep=False` and a forward pre-hook hands the two gate
embedders the other modality's sigma. It matters precisely here: suffix tokens sit at timestep 0 and audio and video
draw their sigmas independently. "own"/"other" select diffusers' two variants for comparison.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

CrossTimestep = Literal["ref", "own", "other"]
AUDIO_MEL_BINS = 16  # audio latent mel bins; 8 channels x 16 = 128 features per token


@dataclass(frozen=True)
class VideoGeometry:
    """Latent grid of the video tokens and the frame rate that turns latent frames into seconds."""

    frames: int
    height: int
    width: int
    fps: float

    @property
    def tokens(self) -> int:
        return self.frames * self.height * self.width


@dataclass(frozen=True)
class TextBatch:
    """Connector outputs for a batch: video [B, L, Dv], audio [B, L, Da], mask [B, L] (1 = attend).

    `full_mask` records whether the mask is all ones, decided once where the mask is cheap to read (the CPU copy):
    `to` carries it to the device, so the forward never reads a device mask back to the host. None = not yet known.
    """

    video: torch.Tensor
    audio: torch.Tensor
    mask: torch.Tensor
    full_mask: bool | None = None

    def attends_everywhere(self) -> bool:
        """True when no text position is masked out (LTX-2.3's connectors turn padding into registers)."""
        if self.full_mask is not None:
            return self.full_mask
        if self.mask.device.type == "meta":  # shapes only (model-info's accounting): the 2.3 case
            return True
        return bool(self.mask.all())

    def to(self, device: torch.device | str) -> TextBatch:
        return TextBatch(
            video=self.video.to(device, non_blocking=True),
            audio=self.audio.to(device, non_blocking=True),
            mask=self.mask.to(device, non_blocking=True),
            full_mask=self.attends_everywhere(),
        )

    def pinned(self) -> TextBatch:
        return TextBatch(
            video=self.video.pin_memory(),
            audio=self.audio.pin_memory(),
            mask=self.mask.pin_memory(),
            full_mask=self.attends_everywhere(),
        )


# --- tokens <-> latents ----------------------------------------------------------------------------------------------


def pack_video(latents: torch.Tensor) -> torch.Tensor:
    """[B, C, F, H, W] -> [B, F*H*W, C], frame-major then row-major (patch size 1, as diffusers `_pack_latents`)."""
    return latents.flatten(2).transpose(1, 2)  # [B, F*H*W, C]


def unpack_video(tokens: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
    """[B, F*H*W, C] -> [B, C, F, H, W]."""
    b, n, c = tokens.shape
    assert n == frames * height * width, f"{n} tokens do not fill {frames}x{height}x{width}"
    return tokens.transpose(1, 2).reshape(b, c, frames, height, width)  # [B, C, F, H, W]


def pack_audio(latents: torch.Tensor) -> torch.Tensor:
    """[B, 8, T, 16] -> [B, T, 128] (channels then mel bins, as diffusers `_pack_audio_latents`)."""
    return latents.transpose(1, 2).flatten(2, 3)  # [B, T, 8*16]


def unpack_audio(tokens: torch.Tensor, mel_bins: int = AUDIO_MEL_BINS) -> torch.Tensor:
    """[B, T, 128] -> [B, 8, T, 16]."""
    return tokens.unflatten(2, (-1, mel_bins)).transpose(1, 2)  # [B, 8, T, 16]


# --- latent statistics -----------------------------------------------------------------------------------------------


def normalise_video(latents: torch.Tensor, vae: torch.nn.Module) -> torch.Tensor:
    """[B, 128, F, H, W] VAE posterior -> the normalised latents the transformer sees."""
    mean = vae.latents_mean.view(1, -1, 1, 1, 1).to(latents)
    std = vae.latents_std.view(1, -1, 1, 1, 1).to(latents)
    return (latents - mean) * vae.config.scaling_factor / std


def denormalise_video(latents: torch.Tensor, vae: torch.nn.Module) -> torch.Tensor:
    mean = vae.latents_mean.view(1, -1, 1, 1, 1).to(latents)
    std = vae.latents_std.view(1, -1, 1, 1, 1).to(latents)
    return latents * std / vae.config.scaling_factor + mean


def normalise_audio(latents: torch.Tensor, audio_vae: torch.nn.Module) -> torch.Tensor:
    """[B, 8, T, 16] posterior -> normalised [B, 8, T, 16]; statistics apply per packed feature (128)."""
    packed = pack_audio(latents)  # [B, T, 128]
    packed = (packed - audio_vae.latents_mean.to(packed)) / audio_vae.latents_std.to(packed)
    return unpack_audio(packed, latents.shape[-1])


def denormalise_audio(latents: torch.Tensor, audio_vae: torch.nn.Module) -> torch.Tensor:
    packed = pack_audio(latents)  # [B, T, 128]
    packed = packed * audio_vae.latents_std.to(packed) + audio_vae.latents_mean.to(packed)
    return unpack_audio(packed, latents.shape[-1])


# --- the transformer call --------------------------------------------------------------------------------------------


def predict_velocity(
    transformer: torch.nn.Module,
    video: torch.Tensor,
    video_sigmas: torch.Tensor,
    sigma: torch.Tensor,
    text: TextBatch,
    geometry: VideoGeometry,
    audio: torch.Tensor | None = None,
    audio_sigmas: torch.Tensor | None = None,
    audio_sigma: torch.Tensor | None = None,
    *,
    cross_timestep: CrossTimestep = "ref",
    isolate_modalities: bool = False,
    stg_blocks: Sequence[int] | None = None,
    perturbation_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Predicted velocities (noise - x0): video [B, Nv, 128] and audio [B, Na, 128] (None when audio is off).

    video [B, Nv, 128] packed noisy latents; video_sigmas [B, Nv] per-token sigma in [0, 1]; sigma [B] the sample's
    sigma. audio [B, Na, 128], audio_sigmas [B, Na], audio_sigma [B], all three or none.
    """
    b, nv, _ = video.shape
    assert video_sigmas.shape == (b, nv), f"video_sigmas {tuple(video_sigmas.shape)} != {(b, nv)}"
    assert nv == geometry.tokens, f"{nv} video tokens for a {geometry} grid"
    assert sigma.shape == (b,)
    with_audio = audio is not None
    if with_audio:
        assert audio_sigmas is not None and audio_sigma is not None, "audio needs per-token and per-sample sigmas"
        assert audio_sigmas.shape == audio.shape[:2] and audio_sigma.shape == (b,)
    else:
        # One zero token: diffusers cannot run an empty audio stream; isolation keeps video independent of it.
        audio = video.new_zeros(b, 1, video.shape[-1])  # [B, 1, 128]
        audio_sigmas, audio_sigma = sigma[:, None], sigma
        isolate_modalities = True
    scale = float(transformer.config.timestep_scale_multiplier)
    dtype = video.dtype
    # An all-ones mask becomes an all-zeros bias inside diffusers, which changes no number but keeps cross-attention
    # off the flash kernels (they take no bias); passing None is the same attention without the bias tensor.
    mask = None if text.attends_everywhere() else text.mask
    with (
        _gates_from_other_modality(transformer, sigma * scale, audio_sigma * scale, cross_timestep == "ref"),
        _attention_kernels(video.device),
    ):
        out = transformer(
            hidden_states=video,
            audio_hidden_states=audio.to(dtype),
            encoder_hidden_states=text.video.to(dtype),
            audio_encoder_hidden_states=text.audio.to(dtype),
            encoder_attention_mask=mask,  # [B, L] or None
            audio_encoder_attention_mask=mask,
            timestep=video_sigmas * scale,  # [B, Nv]
            audio_timestep=audio_sigmas * scale,  # [B, Na]
            sigma=sigma * scale,  # [B]
            audio_sigma=audio_sigma * scale,  # [B]
            num_frames=geometry.frames,
            height=geometry.height,
            width=geometry.width,
            fps=geometry.fps,
            audio_num_frames=audio.shape[1],
            isolate_modalities=isolate_modalities,
            spatio_temporal_guidance_blocks=list(stg_blocks) if stg_blocks else None,
            perturbation_mask=perturbation_mask,
            use_cross_timestep=cross_timestep == "other",
            return_dict=False,
        )
    video_out, audio_out = out
    return video_out, (audio_out if with_audio else None)


# On CUDA: cuDNN attention first, then Flash, then memory-efficient, math last (torch's own order tries Flash and
# memory-efficient before cuDNN). Each kernel is exact attention; a backend that cannot take the inputs (a bias on
# Flash, say) is skipped for the next, so the preference changes speed only.
CUDA_SDPA_PREFERENCE = [
    SDPBackend.CUDNN_ATTENTION,
    SDPBackend.FLASH_ATTENTION,
    SDPBackend.EFFICIENT_ATTENTION,
    SDPBackend.MATH,
]


def _attention_kernels(device: torch.device) -> contextlib.AbstractContextManager:
    if device.type != "cuda" or not CUDA_SDPA_PREFERENCE:  # empty: torch's own order (bench/gpu_probe.py compares)
        return contextlib.nullcontext()
    return sdpa_kernel(CUDA_SDPA_PREFERENCE, set_priority=True)


@contextmanager
def _gates_from_other_modality(
    transformer: torch.nn.Module, video_sigma: torch.Tensor, audio_sigma: torch.Tensor, active: bool
) -> Iterator[None]:
    """While active, the a2v gate embedder sees the audio sigma and the v2a gate embedder the video sigma (x1000).

    diffusers calls each gate embedder once per forward with `own_timestep * gate_factor`; the hook swaps in the other
    modality's per-sample sigma times the same factor, leaving scale-shift on the own per-token timesteps.
    """
    if not active:
        yield
        return
    factor = transformer.config.cross_attn_timestep_scale_multiplier / transformer.config.timestep_scale_multiplier

    def swap(value: torch.Tensor):
        def hook(_module: torch.nn.Module, args: tuple) -> tuple:
            return (value.flatten().to(args[0]) * factor, *args[1:])

        return hook

    handles = [
        transformer.av_cross_attn_video_a2v_gate.register_forward_pre_hook(swap(audio_sigma)),
        transformer.av_cross_attn_audio_v2a_gate.register_forward_pre_hook(swap(video_sigma)),
    ]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
