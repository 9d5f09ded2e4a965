"""Validation clips are judged before training: the exact-length rule, and a fit with the reel's own code."""

from __future__ import annotations

from pathlib import Path

import pytest

from ltxcore.errors import RequestRejected
from ltxcore.intake.validation import ValidationEntry, ValidationSpec, check_validation_clips
from ltxcore.media.probe import probe
from ltxcore.sample.extend import ExtendSettings
from ltxcore.sample.prefit import prefit_validation
from tests.support.clips import _ffmpeg, make_video

REEL = ExtendSettings(num_frames=17, fps=24, width=64, height=64, conditioning_frames=8)


def spec(*paths: Path, rate: int = 24) -> ValidationSpec:
    return ValidationSpec(
        entries=[ValidationEntry(video_url=str(p), prompt="p") for p in paths],
        validation_frame_rate=rate,
        conditioning_frames=8,
        with_audio=False,
    )


@pytest.mark.parametrize(("frames", "fps", "rate"), [(8, 24, 24), (10, 30, 24), (16, 48, 24)])
def test_a_clip_exactly_conditioning_frames_long_at_the_validation_rate_is_accepted(
    tmp_path: Path, frames: int, fps: int, rate: int
) -> None:
    clip = make_video(tmp_path / "exact.mp4", seconds=frames / fps, fps=fps)
    assert probe(clip).num_frames == frames  # 8 frames at 24 fps probe as 0.333333 s (7.99999 frames)
    (found,) = check_validation_clips(spec(clip, rate=rate), tmp_path / "work", allow_local=True)
    prefit_validation([found], REEL.model_copy(update={"fps": rate}))  # the reel can use it too


def test_a_clip_one_frame_short_is_refused_naming_the_entry(tmp_path: Path) -> None:
    good = make_video(tmp_path / "good.mp4", seconds=1, fps=24)
    short = make_video(tmp_path / "short.mp4", seconds=7 / 24, fps=24)
    with pytest.raises(RequestRejected) as err:
        check_validation_clips(spec(good, short), tmp_path / "work", allow_local=True)
    (detail,) = err.value.details
    assert detail.loc == ("body", "validation", 1, "video_url") and detail.type == "too_short"
    assert "7 frames" in detail.msg


def _garble_media_data(path: Path) -> Path:
    """Zero the coded frames but keep the index: ffprobe still lists every packet, no decoder can read one."""
    data = bytearray(path.read_bytes())
    start = data.index(b"mdat") + 4
    data[start + 64 :] = bytes(len(data) - start - 64)
    path.write_bytes(bytes(data))
    return path


def test_prefit_refuses_a_clip_that_probes_well_but_cannot_be_fitted(tmp_path: Path) -> None:
    good = make_video(tmp_path / "good.mp4", seconds=1, fps=24)
    broken = make_video(tmp_path / "broken.mp4", seconds=1, fps=24)
    # +faststart puts the index first, so zeroing everything after the mdat header leaves it intact.
    moved = tmp_path / "broken-faststart.mp4"
    _ffmpeg("-i", str(broken), "-c", "copy", "-movflags", "+faststart", str(moved))
    _garble_media_data(moved)
    clips = check_validation_clips(spec(good, moved), tmp_path / "work", allow_local=True)
    assert [c.probe.num_frames for c in clips] == [24, 24]  # both pass the probe-based checks
    with pytest.raises(RequestRejected) as err:
        prefit_validation(clips, REEL)
    (detail,) = err.value.details
    assert detail.loc == ("body", "validation", 1, "video_url") and "could not be fitted" in detail.msg
