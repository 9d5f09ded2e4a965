"""Audio guardrails at intake: with with_audio, a silent window is skipped with its reason, near-silent windows are
kept with a warning while a minority and skipped once they are not (real ffmpeg clips through the CLI's prepare)."""

from __future__ import annotations

from pathlib import Path

from ltxcore.intake.audio_check import audio_level
from ltxcore.job.plan import plan_job
from ltxcore.job.prepare import prepare
from ltxcore.job.request import ExtendSuffixRequest
from ltxcore.job.settings import JobSettings
from tests.support.clips import make_video, make_zip


def _prepare(tmp_path: Path, clips: dict[str, dict]):
    entries = {
        name: make_video(tmp_path / "src" / name, seconds=1.0, size=(64, 64), audio=True, **kw)
        for name, kw in clips.items()
    }
    archive = make_zip(tmp_path / "data.zip", entries)
    request = ExtendSuffixRequest(
        training_data_url=str(archive),
        number_of_frames=17,
        frame_rate=24,
        resolution="low",
        aspect_ratio="1:1",
        with_audio=True,
    )
    settings = JobSettings(
        work_root=str(tmp_path / "w"), allow_local_inputs=True, device="cpu", bucket_override=(64, 64)
    )
    return prepare(plan_job(request, settings))


def test_a_silent_clip_is_skipped_and_a_near_silent_minority_is_kept_with_a_warning(tmp_path: Path):
    # 17 frames at 24 fps: each 1 s clip gives its last 0.708 s; "near.mp4"'s tone starts 50 ms before the end
    clips = {f"tone{i}.mp4": {} for i in range(3)} | {"mute.mp4": {"volume": 0.0}, "near.mp4": {"tone_from": 0.95}}
    manifest = _prepare(tmp_path, clips)

    assert sorted(c.rel_path for c in manifest.clips) == ["near.mp4", "tone0.mp4", "tone1.mp4", "tone2.mp4"]
    (silent,) = [s for s in manifest.skipped if s.file == "mute.mp4"]
    assert silent.type == "silent_audio" and "audio is silent" in silent.reason
    assert any(w.startswith("1 of 4 training windows have near-silent audio (near.mp4)") for w in manifest.warnings)
    levels = {c.rel_path: audio_level(c.audio_path) for c in manifest.clips}
    assert levels["tone0.mp4"].active_fraction > 0.9 and levels["tone0.mp4"].peak_dbfs > -3
    assert 0.0 < levels["near.mp4"].active_fraction < 0.10 and not levels["near.mp4"].silent
    assert levels["near.mp4"].near_silent and not levels["tone0.mp4"].near_silent


def test_near_silent_windows_are_skipped_once_they_are_not_a_minority(tmp_path: Path):
    clips = {"tone.mp4": {}, "near_a.mp4": {"tone_from": 0.95}, "near_b.mp4": {"tone_from": 0.95}}
    manifest = _prepare(tmp_path, clips)
    assert [c.rel_path for c in manifest.clips] == ["tone.mp4"]
    skipped = {s.file: s.type for s in manifest.skipped}
    assert skipped == {"near_a.mp4": "near_silent_audio", "near_b.mp4": "near_silent_audio"}
    assert not any("near-silent" in w for w in manifest.warnings)
