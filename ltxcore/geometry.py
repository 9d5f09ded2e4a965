"""Frames <-> latents <-> tokens <-> seconds: the latent arithmetic of LTX-2, in one place.

Video VAE: 32x spatial, 8x temporal with a causal first frame, so 8k+1 pixel frames give k+1 latent frames, and the
last N pixel frames (N a multiple of 8) are exactly the last N/8 latent frames. Audio: 16 kHz, mel hop 160, audio VAE
4x in time: 25 latent steps per second.
"""

from __future__ import annotations

VAE_SPATIAL = 32
VAE_TEMPORAL = 8
VIDEO_LATENT_CHANNELS = 128
AUDIO_SAMPLE_RATE = 16_000
AUDIO_LATENTS_PER_SECOND = 25  # 16000 / 160 (mel hop) / 4 (audio VAE)


def latent_frames(pixel_frames: int) -> int:
    """8k+1 pixel frames -> k+1 latent frames."""
    if pixel_frames < 1 or (pixel_frames - 1) % VAE_TEMPORAL:
        raise ValueError(f"pixel frame count must be 8k+1 (got {pixel_frames})")
    return (pixel_frames - 1) // VAE_TEMPORAL + 1


def pixel_frames(latent_frame_count: int) -> int:
    """k+1 latent frames -> 8k+1 pixel frames."""
    if latent_frame_count < 1:
        raise ValueError(f"latent frame count must be >= 1 (got {latent_frame_count})")
    return (latent_frame_count - 1) * VAE_TEMPORAL + 1


def suffix_latent_frames(conditioning_frames: int) -> int:
    """The clean suffix in latent frames: the last N pixel frames are the last N/8 latent frames."""
    if conditioning_frames < VAE_TEMPORAL or conditioning_frames % VAE_TEMPORAL:
        raise ValueError(f"conditioning_frames must be a positive multiple of 8 (got {conditioning_frames})")
    return conditioning_frames // VAE_TEMPORAL


def latent_size(width: int, height: int) -> tuple[int, int]:
    """Pixel (width, height) -> latent (width, height)."""
    if width % VAE_SPATIAL or height % VAE_SPATIAL:
        raise ValueError(f"width and height must be multiples of 32 (got {width}x{height})")
    return width // VAE_SPATIAL, height // VAE_SPATIAL


def video_tokens(width: int, height: int, frames: int) -> int:
    """Transformer tokens of one clip (patch size 1): latent frames x latent height x latent width."""
    lw, lh = latent_size(width, height)
    return latent_frames(frames) * lh * lw


def audio_steps(seconds: float) -> int:
    """Audio latent steps for a duration: round(25 * s), the one rule used in training and sampling alike."""
    return round(AUDIO_LATENTS_PER_SECOND * seconds)


def audio_suffix_steps(conditioning_frames: int, frame_rate: float) -> int:
    """Audio steps of the closing window that matches a video suffix of `conditioning_frames` frames."""
    return audio_steps(conditioning_frames / frame_rate)
