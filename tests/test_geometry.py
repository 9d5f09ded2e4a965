"""The latent arithmetic: frames <-> latents <-> tokens <-> seconds, and the alignment of the two suffixes."""

from __future__ import annotations

import pytest
import torch

from ltxcore import geometry as g


def test_pixel_and_latent_frames_round_trip_on_the_causal_grid() -> None:
    assert [g.latent_frames(f) for f in (1, 9, 17, 25, 89, 121)] == [1, 2, 3, 4, 12, 16]
    assert [g.pixel_frames(n) for n in (1, 2, 3, 4, 12, 16)] == [1, 9, 17, 25, 89, 121]
    for bad in (0, 8, 16, 90):
        with pytest.raises(ValueError):
            g.latent_frames(bad)


def test_each_latent_frame_stands_for_eight_pixel_frames_after_the_first() -> None:
    assert g.latent_pixel_span(0) == (0, 0)
    assert g.latent_pixel_span(1) == (1, 8)
    assert g.latent_pixel_span(3) == (17, 24)
    # the last N latent frames of an 8k+1 clip are exactly its last 8N pixel frames
    frames, n = 89, g.suffix_latent_frames(64)
    last = g.latent_frames(frames) - 1
    assert (g.latent_pixel_span(last - n + 1)[0], g.latent_pixel_span(last)[1]) == (frames - 64, frames - 1)


def test_suffix_latent_frames_need_a_multiple_of_eight() -> None:
    assert [g.suffix_latent_frames(c) for c in (8, 16, 64)] == [1, 2, 8]
    for bad in (0, 7, 12):
        with pytest.raises(ValueError):
            g.suffix_latent_frames(bad)


@pytest.mark.parametrize(
    ("size", "frames", "tokens"),
    [
        ((768, 768), 89, 6912),
        ((960, 544), 89, 6120),
        ((512, 288), 89, 1728),
        ((64, 64), 17, 12),
    ],
)
def test_token_counts_per_bucket(size: tuple[int, int], frames: int, tokens: int) -> None:
    assert g.video_tokens(*size, frames) == tokens


@pytest.mark.parametrize(
    ("seconds", "steps"), [(89 / 24, 93), (25 / 24, 26), (1.0, 25), (121 / 30, 101), (49 / 25, 49), (17 / 8, 53)]
)
def test_audio_steps_are_round_25_per_second(seconds: float, steps: int) -> None:
    assert g.audio_steps(seconds) == steps


@pytest.mark.parametrize(("cond", "fps", "steps"), [(64, 24, 67), (16, 24, 17), (8, 25, 8), (24, 30, 20), (32, 60, 13)])
def test_audio_suffix_steps_match_the_video_suffix_duration(cond: int, fps: float, steps: int) -> None:
    assert g.audio_suffix_steps(cond, fps) == steps


@pytest.mark.parametrize(
    ("frames", "cond", "fps"), [(89, 64, 24), (89, 8, 24), (25, 16, 24), (121, 24, 30), (49, 32, 25), (33, 8, 8)]
)
def test_video_and_audio_suffixes_end_at_the_same_instant(frames: int, cond: int, fps: float) -> None:
    w = g.suffix_windows(frames, cond, fps)
    assert w["video"] == pytest.approx(((frames - cond) / fps, frames / fps))
    # Both start from the clip start, so they agree to within the audio's causal offset (3 mel frames, 30 ms)
    # plus half an audio step of rounding (20 ms): the same alignment the official pipeline gives.
    tolerance = 3 * g.AUDIO_HOP_SECONDS + 0.5 / g.AUDIO_LATENTS_PER_SECOND + 1e-9
    assert abs(w["audio"][1] - w["video"][1]) <= tolerance
    assert abs(w["audio"][0] - w["video"][0]) <= tolerance


def test_token_times_are_the_transformers_rope_coordinates() -> None:
    from diffusers.models.transformers.transformer_ltx2 import LTX2AudioVideoRotaryPosEmbed

    video_rope = LTX2AudioVideoRotaryPosEmbed(dim=32, modality="video", num_attention_heads=2)
    coords = video_rope.prepare_video_coords(1, 4, 1, 1, torch.device("cpu"), fps=24.0)  # [1, 3, 4, 2]
    assert coords[0, 0].flatten().tolist() == pytest.approx([t for s in g.video_latent_times(4, 24.0) for t in s])
    audio_rope = LTX2AudioVideoRotaryPosEmbed(dim=16, modality="audio", scale_factors=[4], num_attention_heads=2)
    coords = audio_rope.prepare_audio_coords(1, 30, torch.device("cpu"))  # [1, 1, 30, 2]
    assert coords[0, 0].flatten().tolist() == pytest.approx([t for s in g.audio_step_times(30) for t in s])
