"""The toy world and its learning metric: the past is recovered from a closing clip, and errors are measured in px."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np

from ltxcore.media import world
from ltxcore.model.encoder_inputs import read_video_frames
from ltxcore.sample.world_metric import MISSING_PX, infer_state, score


def test_walking_back_from_a_state_retraces_the_forward_path_through_bounces():
    rng = random.Random(3)
    bounces = 0
    for _ in range(50):
        path = world.states(world.random_square(rng), 120)  # long enough to bounce off several edges
        # Positions are what frames show; at a wall the velocity's sign (arriving or leaving) is not determined.
        assert [s.centre for s in world.past(path[60], 60)] == [s.centre for s in path[:60]]
        assert all(0 <= s.x <= 112 and 0 <= s.y <= 112 for s in path)
        bounces += sum(a.vx != b.vx or a.vy != b.vy for a, b in itertools.pairwise(path))
    assert bounces > 100


def test_the_tone_follows_the_height_from_200_hz_at_the_top_to_800_hz_at_the_bottom():
    top, bottom = world.Square("red", 10, 0, 1, 1), world.Square("red", 10, 112, 1, 1)
    assert (world.tone_hz(top), world.tone_hz(bottom)) == (200.0, 800.0)
    wave = world.render_tone([top] * 24)  # one second at 200 Hz
    crossings = np.count_nonzero(np.diff(np.signbit(wave[0])))
    assert abs(crossings - 400) <= 2  # two zero crossings per period


def test_the_closing_state_is_read_back_from_an_encoded_clip(tmp_path: Path):
    rng = random.Random(5)
    for i in range(6):
        path = world.states(world.random_square(rng), 16)
        frames = read_video_frames(world.write_clip(tmp_path / f"c{i}.mp4", path, audio=False))
        assert infer_state(frames[-8:]) == path[-8], f"clip {i}"


def test_frames_that_are_not_the_world_give_no_state():
    noise = np.random.default_rng(0).integers(0, 255, (8, 128, 128, 3), dtype=np.uint8)
    empty = world.render_frames([world.Square("red", 0, 0, 1, 1)] * 8)
    empty[:] = world.BACKGROUND
    assert infer_state(noise) is None and infer_state(empty) is None
    assert infer_state(np.zeros((8, 96, 96, 3), np.uint8)) is None  # not 128x128


def test_the_true_lead_in_scores_zero_and_a_shifted_one_scores_its_shift():
    first = world.Square("cyan", 40, 50, 3, -2)
    truth = world.render_frames(world.past(first, 17) + world.states(first, 8))  # [25, 128, 128, 3]
    assert score("truth", truth, 17, first).mean_error_px == 0.0
    shifted = np.concatenate([np.roll(truth[:17], 5, axis=2), truth[17:]])  # the lead-in 5 px to the right
    row = score("shifted", shifted, 17, first)
    assert 4.0 <= row.mean_error_px <= 5.0  # 5 px, less in frames where the roll wrapped part of the square
    assert abs(row.true_step_px - np.hypot(3, 2)) < 1e-3  # rounded to 3 decimals in the report


def test_a_lead_in_without_the_square_counts_the_missing_penalty():
    first = world.Square("red", 60, 60, 2, 2)
    frames = world.render_frames([*world.past(first, 9), first])
    frames[:9] = world.BACKGROUND
    row = score("blank", frames, 9, first)
    assert (row.mean_error_px, row.missing_frames) == (MISSING_PX, 9)
