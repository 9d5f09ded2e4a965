"""Frames <-> latents <-> tokens <-> seconds: the latent arithmetic of LTX-2, in one place.

Video VAE: 32x spatial, 8x temporal with a causal first frame, so 8k+1 pixel frames give k+1 latent frames, and the
last N pixel frames (N a multiple of 8) are exactly the last N/8 latent frames. Audio: 16 kHz, mel hop 160, audio VAE
4x in time: 25 latent steps per second.
"""

from __future__ import annotations

from typing import Literal

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


# --- Where each latent stands in pixel frames and in seconds -------------------------------------------------------
# The transformer's RoPE places every token by a [start, end) span in seconds from the clip start (diffusers
# `LTX2AudioVideoRotaryPosEmbed.prepare_video_coords` / `prepare_audio_coords`, the official `get_pixel_coords`).
# These functions state the same arithmetic in plain numbers so that the suffix alignment can be tested without a model.

AUDIO_HOP_SECONDS = 160 / AUDIO_SAMPLE_RATE  # one mel frame: 10 ms
AUDIO_VAE_TEMPORAL = 4  # mel frames per audio latent step


def latent_pixel_span(latent_index: int) -> tuple[int, int]:
    """Pixel frames [first, last] that latent frame `latent_index` stands for: 0 -> (0, 0), j >= 1 -> (8j-7, 8j)."""
    if latent_index < 0:
        raise ValueError(f"latent index must be >= 0 (got {latent_index})")
    if latent_index == 0:
        return 0, 0
    return VAE_TEMPORAL * latent_index - (VAE_TEMPORAL - 1), VAE_TEMPORAL * latent_index


def video_latent_times(latent_frame_count: int, fps: float) -> list[tuple[float, float]]:
    """[start, end) in seconds of each latent frame's tokens: [8f-7, 8f+1) pixel frames, clamped at 0, over fps."""
    spans = []
    for f in range(latent_frame_count):
        start = max(VAE_TEMPORAL * f + 1 - VAE_TEMPORAL, 0)
        end = max(VAE_TEMPORAL * (f + 1) + 1 - VAE_TEMPORAL, 0)
        spans.append((start / fps, end / fps))
    return spans


def audio_step_times(steps: int) -> list[tuple[float, float]]:
    """[start, end) in seconds of each audio latent step: mel frames [4t-3, 4t+1), clamped at 0, times 10 ms."""
    spans = []
    for t in range(steps):
        start = max(AUDIO_VAE_TEMPORAL * t + 1 - AUDIO_VAE_TEMPORAL, 0)
        end = max(AUDIO_VAE_TEMPORAL * (t + 1) + 1 - AUDIO_VAE_TEMPORAL, 0)
        spans.append((start * AUDIO_HOP_SECONDS, end * AUDIO_HOP_SECONDS))
    return spans


def suffix_windows(num_frames: int, conditioning_frames: int, fps: float) -> dict[str, tuple[float, float]]:
    """The clean closing window of each modality in seconds, as the model's RoPE places it.

    Video: the last N/8 latent frames. Audio: the last round(25 * N / fps) steps of round(25 * num_frames / fps).
    Both count from the same clip start, so both windows end at the clip's end: the video exactly at num_frames/fps,
    the audio within 50 ms of it (its causal offset of 3 mel frames plus half a step of rounding).
    """
    lat = latent_frames(num_frames)
    n_lat = suffix_latent_frames(conditioning_frames)
    if n_lat >= lat:
        raise ValueError(f"conditioning_frames ({conditioning_frames}) must leave a lead-in in {num_frames} frames")
    video = video_latent_times(lat, fps)[lat - n_lat :]
    steps = audio_steps(num_frames / fps)
    audio = audio_step_times(steps)[steps - audio_suffix_steps(conditioning_frames, fps) :]
    return {"video": (video[0][0], video[-1][1]), "audio": (audio[0][0], audio[-1][1])}


# --- the endpoint's resolution buckets ---

Resolution = Literal["low", "medium", "high"]
AspectRatio = Literal["16:9", "1:1", "9:16"]

# (width, height) per resolution and aspect ratio: the endpoint's table. Every side is a multiple of 32 (VAE stride).
BUCKETS: dict[tuple[str, str], tuple[int, int]] = {
    ("low", "16:9"): (512, 288),
    ("low", "1:1"): (512, 512),
    ("low", "9:16"): (288, 512),
    ("medium", "16:9"): (768, 448),
    ("medium", "1:1"): (768, 768),
    ("medium", "9:16"): (448, 768),
    ("high", "16:9"): (960, 544),
    ("high", "1:1"): (960, 960),
    ("high", "9:16"): (544, 960),
}


def bucket(resolution: Resolution, aspect_ratio: AspectRatio) -> tuple[int, int]:
    """The (width, height) in pixels that clips are fitted to."""
    return BUCKETS[(resolution, aspect_ratio)]


def snap_frames(n: int) -> int:
    """Snap a frame count DOWN to the nearest 8k+1 (the VAE's causal grid): 90 -> 89, 89 -> 89, 16 -> 9."""
    return (n - 1) // 8 * 8 + 1
