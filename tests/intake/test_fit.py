"""fit_clip: exact frame counts, end-aligned windows, fill + centre crop, rotation, audio length/peak/pitch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ltxcore.intake.fit import FitSettings, fit_clip, plan_windows
from ltxcore.manifests import FittedClip, SkippedClip, SourceClip
from ltxcore.media.probe import probe
from tests.support.clips import frame_count, frame_indices, gray_frames, make_video, stream_info

SMALL = FitSettings(num_frames=17, fps=24, width=64, height=64)


def clip_of(path: Path, caption: str = "") -> SourceClip:
    return SourceClip(id=path.stem, path=str(path), rel_path=f"in/{path.name}", caption=caption, probe=probe(path))


def fitted(result: list[FittedClip] | SkippedClip) -> list[FittedClip]:
    assert isinstance(result, list), result
    return result


def test_windows_end_at_the_clips_real_ending(tmp_path: Path) -> None:
    # 72 frames at the target rate: four windows of 17, the first aligned to frame 71, the oldest 4 frames dropped.
    clip = clip_of(make_video(tmp_path / "count.mp4", seconds=3, fps=24, pattern="counter"))
    out = fitted(fit_clip(clip, SMALL, tmp_path / "fit"))
    by_id = {c.id: c for c in out}
    assert sorted(by_id) == ["count-w0", "count-w1", "count-w2", "count-w3"]
    assert frame_indices(Path(by_id["count-w0"].video_path)) == list(range(55, 72))
    assert frame_indices(Path(by_id["count-w1"].video_path)) == list(range(38, 55))
    assert frame_indices(Path(by_id["count-w3"].video_path)) == list(range(4, 21))
    assert by_id["count-w0"].source_end == 3.0
    assert by_id["count-w0"].source_start == pytest.approx(3.0 - 17 / 24)
    assert {c.speed for c in out} == {1.0}


def test_max_windows_keeps_the_latest_ones(tmp_path: Path) -> None:
    clip = clip_of(make_video(tmp_path / "count.mp4", seconds=3, fps=24, pattern="counter"))
    out = fitted(fit_clip(clip, SMALL.model_copy(update={"max_windows": 1}), tmp_path / "fit"))
    assert [c.id for c in out] == ["count-w0"]
    assert frame_indices(Path(out[0].video_path)) == list(range(55, 72))


def test_rate_conversion_gives_exact_frames_ending_on_the_last_source_frame(tmp_path: Path) -> None:
    clip = clip_of(make_video(tmp_path / "c30.mp4", seconds=1, fps=30, pattern="counter"))  # 30 frames
    (window,) = fitted(fit_clip(clip, SMALL, tmp_path / "fit"))
    path = Path(window.video_path)
    assert frame_count(path) == 17
    assert eval(stream_info(path)["streams"][0]["avg_frame_rate"]) == 24
    idx = frame_indices(path)
    assert idx[-1] == 29  # the clip's last frame closes the window
    assert idx == sorted(idx) and len(set(idx)) == 17  # 30 -> 24 fps drops frames, never repeats one
    assert window.source_fps == 30


def test_too_short_clip_is_skipped_without_auto_scale(tmp_path: Path) -> None:
    clip = clip_of(make_video(tmp_path / "short.mp4", seconds=0.5, fps=24))  # 12 frames < 17
    result = fit_clip(clip, SMALL, tmp_path / "fit")
    assert isinstance(result, SkippedClip)
    assert result.type == "too_short" and result.file == "in/short.mp4" and "12 frames" in result.reason
    assert not (tmp_path / "fit").exists()


def test_auto_scale_stretches_a_short_clip_to_exactly_one_window(tmp_path: Path) -> None:
    clip = clip_of(make_video(tmp_path / "short.mp4", seconds=0.5, fps=24, pattern="counter"))
    (window,) = fitted(fit_clip(clip, SMALL.model_copy(update={"auto_scale": True}), tmp_path / "fit"))
    idx = frame_indices(Path(window.video_path))
    assert len(idx) == 17 and idx[0] == 0 and idx[-1] == 11  # all 12 source frames spread over 17
    assert window.speed == pytest.approx(0.5 / (17 / 24), abs=1e-6)
    assert (window.source_start, window.source_end) == (0.0, 0.5)


def test_fill_then_centre_crop(tmp_path: Path) -> None:
    # Portrait 64x128, top half white: filling 64x64 keeps the middle rows, so the top half of the output is white.
    clip = clip_of(make_video(tmp_path / "p.mp4", seconds=1, size=(64, 128), pattern="halves"))
    (window,) = fitted(fit_clip(clip, SMALL, tmp_path / "fit"))
    frame = gray_frames(Path(window.video_path))[0]
    assert frame.shape == (64, 64)
    assert frame[:28].mean() > 240 and frame[36:].mean() < 15
    landscape = clip_of(make_video(tmp_path / "l.mp4", seconds=1, size=(200, 90)))
    (w2,) = fitted(fit_clip(landscape, SMALL.model_copy(update={"width": 96}), tmp_path / "fit"))
    stream = stream_info(Path(w2.video_path))["streams"][0]
    assert (stream["width"], stream["height"], stream.get("sample_aspect_ratio", "1:1")) == (96, 64, "1:1")


@pytest.mark.parametrize(("rotation", "white_side"), [(90, "left"), (270, "right"), (180, "bottom")])
def test_rotation_metadata_is_honoured(tmp_path: Path, rotation: int, white_side: str) -> None:
    clip = clip_of(make_video(tmp_path / "r.mp4", seconds=1, size=(96, 64), pattern="halves", rotation=rotation))
    (window,) = fitted(fit_clip(clip, SMALL, tmp_path / "fit"))
    frame = gray_frames(Path(window.video_path))[0]
    halves = {"left": frame[:, :28], "right": frame[:, 36:], "top": frame[:28], "bottom": frame[36:]}
    assert halves[white_side].mean() > 240
    assert "side_data_list" not in stream_info(Path(window.video_path))["streams"][0]  # no rotation left to apply


def test_audio_is_16k_stereo_float_cut_to_the_window_and_peak_normalised(tmp_path: Path) -> None:
    clip = clip_of(make_video(tmp_path / "a.mp4", seconds=3, fps=24, audio=True, volume=0.3))
    settings = SMALL.model_copy(update={"with_audio": True, "max_windows": 2})
    out = fitted(fit_clip(clip, settings, tmp_path / "fit"))
    assert len(out) == 2
    for window in out:
        assert window.audio_path is not None
        info = sf.info(window.audio_path)
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (16000, 2, "FLOAT", 11333)
        assert info.frames == round(16000 * 17 / 24)
        audio, _ = sf.read(window.audio_path, dtype="float32")
        assert np.abs(audio).max() == pytest.approx(10 ** (-1 / 20), abs=1e-4)
    raw = fitted(fit_clip(clip, settings.model_copy(update={"audio_normalize": False}), tmp_path / "raw"))
    audio, _ = sf.read(raw[0].audio_path, dtype="float32")
    assert np.abs(audio).max() == pytest.approx(0.3, abs=0.03)


def test_audio_stays_aligned_with_the_end_aligned_windows(tmp_path: Path) -> None:
    # The tone starts at 2.0 s: the last window (2.29-3.0 s) is all tone, the one at 0.88-1.58 s is silent.
    clip = clip_of(make_video(tmp_path / "a.mp4", seconds=3, fps=24, audio=True, tone_from=2.0))
    out = fitted(
        fit_clip(clip, SMALL.model_copy(update={"with_audio": True, "audio_normalize": False}), tmp_path / "fit")
    )
    rms = {c.id: float(np.sqrt(np.mean(sf.read(c.audio_path)[0] ** 2))) for c in out}
    assert rms["a-w0"] > 0.3 and rms["a-w2"] < 1e-3
    # w1 covers 1.58-2.29 s: silent for its first 0.42 s, tone for the last 0.29 s
    audio, _ = sf.read(next(c.audio_path for c in out if c.id == "a-w1"))
    assert np.abs(audio[: int(0.38 * 16000)]).max() < 1e-3 and np.abs(audio[int(0.46 * 16000) :]).max() > 0.3


def dominant_hz(path: str) -> float:
    audio, rate = sf.read(path)
    mono = audio.mean(axis=1)
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    return float(np.fft.rfftfreq(len(mono), 1 / rate)[spectrum.argmax()])


def test_time_stretched_audio_keeps_its_pitch_or_is_resampled(tmp_path: Path) -> None:
    clip = clip_of(make_video(tmp_path / "s.mp4", seconds=0.5, fps=24, audio=True, tone_hz=1000))
    base = SMALL.model_copy(update={"with_audio": True, "auto_scale": True})
    (kept,) = fitted(fit_clip(clip, base, tmp_path / "keep"))
    (shifted,) = fitted(fit_clip(clip, base.model_copy(update={"audio_preserve_pitch": False}), tmp_path / "shift"))
    speed = 0.5 / (17 / 24)
    assert sf.info(kept.audio_path).frames == sf.info(shifted.audio_path).frames == 11333
    assert dominant_hz(kept.audio_path) == pytest.approx(1000, abs=25)
    assert dominant_hz(shifted.audio_path) == pytest.approx(1000 * speed, abs=25)


def test_clip_without_audio_is_flagged_when_audio_is_on(tmp_path: Path) -> None:
    clip = clip_of(make_video(tmp_path / "mute.mp4", seconds=1))
    result = fit_clip(clip, SMALL.model_copy(update={"with_audio": True}), tmp_path / "fit")
    assert isinstance(result, SkippedClip) and result.type == "no_audio" and result.file == "in/mute.mp4"


def test_trigger_phrase_is_prepended_once(tmp_path: Path) -> None:
    path = make_video(tmp_path / "c.mp4", seconds=1)
    s = SMALL.model_copy(update={"trigger_phrase": "sks"})
    assert fitted(fit_clip(clip_of(path, "a dog"), s, tmp_path / "a"))[0].caption == "sks a dog"
    assert fitted(fit_clip(clip_of(path, "sks a dog"), s, tmp_path / "b"))[0].caption == "sks a dog"
    assert fitted(fit_clip(clip_of(path, ""), s, tmp_path / "c"))[0].caption == "sks"


def test_scene_window_plan_stays_inside_the_scene(tmp_path: Path) -> None:
    path = make_video(tmp_path / "c.mp4", seconds=3, fps=24, pattern="counter")
    scene = clip_of(path).model_copy(update={"start": 0.5, "end": 2.0})
    plan = plan_windows(scene, SMALL)
    assert isinstance(plan, list) and len(plan) == 2
    assert plan[-1].end == 2.0 and plan[0].start == pytest.approx(2.0 - 2 * 17 / 24)
    out = fitted(fit_clip(scene, SMALL, tmp_path / "fit"))
    w0 = next(c for c in out if c.id.endswith("-w0"))
    assert frame_indices(Path(w0.video_path)) == list(range(31, 48))  # ends at the scene's last frame (47)


def test_vfr_source_gives_exact_frame_counts(tmp_path: Path) -> None:
    clip = clip_of(make_video(tmp_path / "v.mp4", seconds=4, fps=30, vfr=True))
    assert clip.probe is not None and clip.probe.vfr
    out = fitted(fit_clip(clip, SMALL, tmp_path / "fit"))
    assert len(out) == 4 and all(frame_count(Path(c.video_path)) == 17 for c in out)
