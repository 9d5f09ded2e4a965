"""One training micro-batch and one validation measurement: the objective applied to a batch through the model.

Every random draw (sigmas, noise) comes from the generator it is handed, on the CPU, so a step's inputs depend only on
(seed, micro-batch index) and are identical on any device and after any resume.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ltxcore.geometry import audio_suffix_steps, suffix_latent_frames
from ltxcore.model.forward import VideoGeometry, pack_audio, pack_video, predict_velocity
from ltxcore.train.data import Batch
from ltxcore.train.objective import (
    Noised,
    audio_suffix_mask,
    masked_mse,
    noise_with_suffix,
    sample_sigmas,
    video_suffix_mask,
)


@dataclass(frozen=True)
class Losses:
    """Per-sample losses [B]; `total` = video + audio (audio is None on a video-only run)."""

    video: Tensor
    audio: Tensor | None

    @property
    def total(self) -> Tensor:
        return self.video if self.audio is None else self.video + self.audio


@dataclass(frozen=True)
class SuffixSplit:
    """Where the clean suffix sits in each modality, from the request's conditioning_frames and frame rate."""

    conditioning_frames: int
    frame_rate: float

    def video_mask(self, frames: int, height: int, width: int) -> Tensor:
        """[F*H*W] bool: the last conditioning_frames/8 latent frames."""
        return video_suffix_mask(frames, height, width, suffix_latent_frames(self.conditioning_frames))

    def audio_mask(self, steps: int) -> Tensor:
        """[T] bool: the closing conditioning_frames/frame_rate seconds, in audio latent steps."""
        return audio_suffix_mask(steps, audio_suffix_steps(self.conditioning_frames, self.frame_rate))


def noise_batch(
    batch: Batch, split: SuffixSplit, gen: torch.Generator, sigma: float | None = None
) -> tuple[Noised, Noised | None]:
    """Noised video (and audio) tokens for `batch`. `sigma` fixes both modalities' sigma (validation); otherwise each
    modality draws its own from the shifted logit-normal sampler at its own token count."""
    _, _, f, h, w = batch.video.shape
    x0_video = pack_video(batch.video.float())  # [B, Nv, 128]
    video = _noise(x0_video, split.video_mask(f, h, w), gen, sigma)
    if batch.audio is None:
        return video, None
    x0_audio = pack_audio(batch.audio.float())  # [B, Na, 128]
    return video, _noise(x0_audio, split.audio_mask(x0_audio.shape[1]), gen, sigma)


def _noise(x0: Tensor, suffix: Tensor, gen: torch.Generator, sigma: float | None) -> Noised:
    b, n, _ = x0.shape
    sigmas = sample_sigmas(b, n, gen) if sigma is None else torch.full((b,), sigma)  # [B]
    eps = torch.randn(x0.shape, generator=gen)  # [B, N, C]
    return noise_with_suffix(x0, suffix, sigmas, eps)


@dataclass(frozen=True)
class Prepared:
    """A micro-batch ready for the device: its latents, noised on the CPU, and its text (pinned on a CUDA run)."""

    batch: Batch
    video: Noised
    audio: Noised | None

    def pinned(self) -> Prepared:
        """Page-locked copies, so the host-to-device copies can overlap the step before (CUDA only)."""
        return Prepared(
            batch=self.batch.pinned(), video=_pin(self.video), audio=None if self.audio is None else _pin(self.audio)
        )


def prepare_batch(batch: Batch, split: SuffixSplit, gen: torch.Generator, sigma: float | None = None) -> Prepared:
    """Everything a micro-batch needs before the model, on the CPU: the prefetch thread runs this for the next one."""
    video, audio = noise_batch(batch, split, gen, sigma)
    return Prepared(batch=batch, video=video, audio=audio)


def prepared_losses(model: torch.nn.Module, prepared: Prepared, split: SuffixSplit, device: torch.device) -> Losses:
    """Run the transformer on `device` over a prepared micro-batch, return the masked losses per sample."""
    batch = prepared.batch
    video = _to(prepared.video, device)
    audio = None if prepared.audio is None else _to(prepared.audio, device)
    text = batch.text.to(device)
    _, _, f, h, w = batch.video.shape
    geometry = VideoGeometry(frames=f, height=h, width=w, fps=split.frame_rate)
    dtype = model.dtype  # the base weights' (bf16 on CUDA); LoRA weights stay fp32 under autocast
    pred_video, pred_audio = predict_velocity(
        model,
        video.noisy.to(dtype),
        video.timestep,
        video.sigma,
        text,
        geometry,
        audio=None if audio is None else audio.noisy.to(dtype),
        audio_sigmas=None if audio is None else audio.timestep,
        audio_sigma=None if audio is None else audio.sigma,
    )  # [B, Nv, 128], [B, Na, 128] | None
    loss_video = masked_mse(pred_video, video.target, video.loss_mask)  # [B]
    loss_audio = None if audio is None else masked_mse(pred_audio, audio.target, audio.loss_mask)  # [B]
    return Losses(video=loss_video, audio=loss_audio)


def batch_losses(
    model: torch.nn.Module,
    batch: Batch,
    split: SuffixSplit,
    gen: torch.Generator,
    device: torch.device,
    sigma: float | None = None,
) -> Losses:
    """Noise the batch (on the CPU), run the transformer on `device`, return the masked losses per sample."""
    return prepared_losses(model, prepare_batch(batch, split, gen, sigma), split, device)


def _to(n: Noised, device: torch.device) -> Noised:
    # non_blocking only matters for pinned memory; from pageable memory the copy is synchronous anyway
    return Noised(
        noisy=n.noisy.to(device, non_blocking=True),
        target=n.target.to(device, non_blocking=True),
        timestep=n.timestep.to(device, non_blocking=True),
        sigma=n.sigma.to(device, non_blocking=True),
        loss_mask=n.loss_mask.to(device, non_blocking=True),
    )


def _pin(n: Noised) -> Noised:
    return Noised(
        noisy=n.noisy.pin_memory(),
        target=n.target.pin_memory(),
        timestep=n.timestep.pin_memory(),
        sigma=n.sigma.pin_memory(),
        loss_mask=n.loss_mask.pin_memory(),
    )


def tokens_in(batch: Batch) -> int:
    """Transformer tokens a forward of `batch` processes (video plus audio; the placeholder token is not counted)."""
    b, _, f, h, w = batch.video.shape
    audio = 0 if batch.audio is None else batch.audio.shape[2]
    return b * (f * h * w + audio)
