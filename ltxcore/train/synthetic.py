"""A synthetic latent family whose lead-in is predictable from its closing frames, for tests and the benchmark.

Video: a blob glides one latent cell per latent frame to the right, from a random start, over a little clip-specific
noise; the last latent frame shows where it ends, so every earlier frame follows. Audio: a sine along time with a
random phase per clip, so the closing window fixes the phase of the whole clip. Latents are built directly (no VAE):
same shapes and scale as normalised cache latents, video [128, F, H, W], audio [8, T, 16].
"""

from __future__ import annotations

import math

import torch

from ltxcore.model.forward import TextBatch
from ltxcore.train.data import ClipLatents
from ltxcore.train.rng import generator

_CHANNELS = 128


class GlidingBlobs:
    """A `LatentSource` of `count` clips. `text` is one prompt's embeddings (batch of 1) shared by every clip."""

    def __init__(
        self,
        count: int,
        text: TextBatch,
        *,
        frames: int = 4,
        height: int = 4,
        width: int = 4,
        audio_steps: int = 26,
        seed: int = 0,
    ):
        self.count, self.text, self.seed = count, text, seed
        self.frames, self.height, self.width, self.audio_steps = frames, height, width, audio_steps
        g = generator(seed, "family")
        self.video_direction = _unit(torch.randn(_CHANNELS, generator=g)) * math.sqrt(_CHANNELS)  # [128]
        self.audio_direction = _unit(torch.randn(8, 1, 16, generator=g)) * math.sqrt(8 * 16)  # [8, 1, 16]

    def __len__(self) -> int:
        return self.count

    def load(self, index: int, *, with_audio: bool) -> ClipLatents:
        g = generator(self.seed, "clip", index)
        f, h, w = self.frames, self.height, self.width
        start_x = torch.rand(1, generator=g).item() * 2 - (f - 1)  # ends in [0, 2] at the last frame
        y = torch.rand(1, generator=g).item() * (h - 1)
        phase = torch.rand(1, generator=g).item() * 2 * math.pi
        ys, xs = torch.arange(h).float()[:, None], torch.arange(w).float()[None, :]  # [H, 1], [1, W]
        centres = start_x + torch.arange(f).float()  # [F] one cell per latent frame
        dist2 = (xs[None] - centres[:, None, None]) ** 2 + (ys[None] - y) ** 2  # [F, H, W]
        blob = torch.exp(-dist2 / 1.5)  # [F, H, W]
        video = blob[None] * self.video_direction[:, None, None, None] * 0.8  # [128, F, H, W]
        video = video + 0.3 * torch.randn(_CHANNELS, f, h, w, generator=g)  # [128, F, H, W]
        audio = None
        if with_audio:
            t = torch.arange(self.audio_steps).float()  # [T]
            wave = torch.sin(2 * math.pi * t / 9.0 + phase)  # [T] a period of 9 steps (0.36 s)
            audio = wave[None, :, None] * self.audio_direction * 0.8  # [8, T, 16]
            audio = audio + 0.3 * torch.randn(8, self.audio_steps, 16, generator=g)  # [8, T, 16]
        return ClipLatents(
            clip_id=f"blob-{index}",
            video=video,
            audio=audio,
            text_video=self.text.video[0],
            text_audio=self.text.audio[0],
            text_mask=self.text.mask[0],
        )


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm()
