"""probe: numbers from real synthesised files; broken, crafted and absurd files are refused, never followed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ltxcore.manifests import ExtractResult, SourceClip
from ltxcore.media import ffmpeg_bin
from ltxcore.media.probe import INPUT_GUARD, ProbeError, probe, probe_clips
from tests.support.clips import hls_playlist_as_video, make_video, truncate


def test_constant_rate_mp4_with_audio(tmp_path: Path) -> None:
    info = probe(make_video(tmp_path / "a.mp4", seconds=2, fps=24, size=(96, 64), audio=True))
    assert (info.width, info.height, info.num_frames, info.fps, info.duration) == (96, 64, 48, 24.0, 2.0)
    assert info.has_audio and not info.vfr and info.rotation == 0 and info.codec == "h264"


@pytest.mark.parametrize(
    ("name", "fps", "codec"), [("b.mkv", 30, "libx264"), ("c.avi", 25, "mpeg4"), ("d.mov", 60, "libx264")]
)
def test_other_containers(tmp_path: Path, name: str, fps: int, codec: str) -> None:
    info = probe(make_video(tmp_path / name, seconds=1, fps=fps, codec=codec))
    assert (info.num_frames, info.fps, info.duration, info.has_audio) == (fps, fps, 1.0, False)


def test_variable_frame_rate_is_detected(tmp_path: Path) -> None:
    info = probe(make_video(tmp_path / "v.mp4", seconds=4, fps=30, vfr=True))
    assert info.vfr
    assert info.num_frames == 60 + 20  # first half every frame, second half one in three
    assert info.duration == pytest.approx(4.0, abs=0.1)
    assert info.fps == pytest.approx(80 / info.duration, rel=1e-3)


def test_rotation_swaps_the_displayed_size(tmp_path: Path) -> None:
    info = probe(make_video(tmp_path / "r.mp4", seconds=1, size=(96, 64), rotation=90))
    assert (info.width, info.height, info.rotation) == (64, 96, 270)  # 90 counter-clockwise = 270 clockwise


def test_truncated_file_is_a_probe_error(tmp_path: Path) -> None:
    path = truncate(make_video(tmp_path / "t.mp4", seconds=2))
    with pytest.raises(ProbeError) as err:
        probe(path)
    assert err.value.type == "unreadable"


def test_playlist_saved_as_video_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProbeError) as err:
        probe(hls_playlist_as_video(tmp_path / "evil.avi"))
    assert err.value.type == "unsafe"


def test_the_input_guard_stops_ffmpeg_following_a_playlist_to_a_local_file(tmp_path: Path) -> None:
    secret = make_video(tmp_path / "secret.mp4", seconds=1)
    playlist = hls_playlist_as_video(tmp_path / "evil.avi", target=str(secret))
    base = [ffmpeg_bin.ffprobe(), "-v", "error", "-show_entries", "format=format_name", "-of", "csv=p=0"]
    unguarded = subprocess.run([*base, str(playlist)], capture_output=True, text=True, timeout=60)
    assert unguarded.stdout.strip() == "hls"  # the threat is real: plain ffprobe follows the playlist
    guarded = subprocess.run([*base, *INPUT_GUARD, str(playlist)], capture_output=True, text=True, timeout=60)
    assert guarded.returncode != 0 and "not on whitelist" in guarded.stderr


def test_foreign_container_is_refused(tmp_path: Path) -> None:
    wav = tmp_path / "sound.mp4"  # a WAV file wearing a video extension
    subprocess.run(
        [ffmpeg_bin.ffmpeg(), "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=d=1", "-f", "wav", str(wav)],
        check=True,
        timeout=60,
    )
    with pytest.raises(ProbeError):
        probe(wav)


def test_absurd_declared_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProbeError) as err:
        probe(make_video(tmp_path / "wide.mkv", seconds=0.1, fps=10, size=(8208, 16)))
    assert err.value.type == "absurd" and "8208x16" in err.value.reason


def test_absurd_declared_duration_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "long.mkv"  # two frames four hours apart
    subprocess.run(
        [
            ffmpeg_bin.ffmpeg(),
            "-nostdin",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=32x32:r=1:d=2",
            "-vf",
            "setpts=N*4*3600/TB",
            "-fps_mode",
            "passthrough",
            "-c:v",
            "libx264",
            str(path),
        ],
        check=True,
        timeout=60,
    )
    with pytest.raises(ProbeError) as err:
        probe(path)
    assert err.value.type == "absurd"


def test_probe_clips_moves_unreadable_files_to_the_skip_list(tmp_path: Path) -> None:
    good = make_video(tmp_path / "good.mp4", seconds=1)
    bad = truncate(make_video(tmp_path / "bad.mp4", seconds=1))
    clips = ExtractResult(
        clips=[
            SourceClip(id="g", path=str(good), rel_path="good.mp4"),
            SourceClip(id="b", path=str(bad), rel_path="x/bad.mp4"),
        ]
    )
    out = probe_clips(clips)
    assert [c.id for c in out.clips] == ["g"] and out.clips[0].probe is not None
    assert out.clips[0].probe.num_frames == 24
    assert [(s.file, s.type) for s in out.skipped] == [("x/bad.mp4", "unreadable")]


def test_an_unreadable_files_reason_names_the_file_not_the_workers_directories(tmp_path: Path) -> None:
    deep = tmp_path / "work" / "extract" / "0123abcd" / "videos"
    deep.mkdir(parents=True)
    junk = deep / "holiday.mp4"
    junk.write_bytes(b"\x00\x01 this is not a video " * 64)
    with pytest.raises(ProbeError) as err:
        probe(junk)
    assert err.value.reason.startswith("not a readable video (holiday.mp4: "), err.value.reason
    assert str(tmp_path) not in err.value.reason and "extract" not in err.value.reason
