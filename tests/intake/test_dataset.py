"""build_dataset, the validation checks, prepare end to end, the report and the debug dataset."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from ltxcore.errors import TOO_SHORT_MESSAGE, RequestRejected
from ltxcore.intake.build import build_dataset
from ltxcore.intake.debug_zip import write_debug_dataset
from ltxcore.intake.fit import FitSettings
from ltxcore.intake.report import summary
from ltxcore.intake.validation import check_validation_clips
from ltxcore.job.plan import plan_job, validation_spec
from ltxcore.job.prepare import prepare as prepare_plan
from ltxcore.job.request import ExtendSuffixRequest
from ltxcore.job.settings import JobSettings
from ltxcore.manifests import FittedClip, SkippedClip
from tests.support.clips import frame_count, make_image, make_video, make_zip, stream_info

SMALL = FitSettings(num_frames=17, fps=24, width=64, height=64)


def request(url: str | Path, **kw: object) -> ExtendSuffixRequest:
    base: dict[str, object] = dict(
        training_data_url=str(url), number_of_frames=17, frame_rate=24, resolution="low", aspect_ratio="16:9"
    )
    return ExtendSuffixRequest.model_validate(base | kw)


def prepare(req: ExtendSuffixRequest, work: Path, allow_local: bool = True):
    """The CLI's prepare: the plan for a CLI deployment on this work dir, then every intake stage."""
    settings = JobSettings(work_root=str(work), allow_local_inputs=allow_local, device="cpu")
    return prepare_plan(plan_job(req, settings))


def skip(file: str, type: str) -> SkippedClip:
    return SkippedClip(file=file, reason=type, type=type)


def window(i: int, file: str = "a.mp4") -> FittedClip:
    return FittedClip(
        id=f"c{i}",
        source_id="c",
        rel_path=file,
        video_path=f"/x/c{i}.mp4",
        caption="x",
        num_frames=17,
        fps=24,
        width=64,
        height=64,
        source_start=0,
        source_end=17 / 24,
        source_fps=30,
    )


def test_every_clip_too_short_gives_the_exact_message() -> None:
    with pytest.raises(RequestRejected) as err:
        build_dataset(
            [],
            [skip("a.mp4", "too_short"), skip("b.mp4", "too_short"), skip("c.png", "image")],
            SMALL,
            conditioning_frames=8,
        )
    assert err.value.details[0].msg == TOO_SHORT_MESSAGE == "All training videos are too short to be trainable"
    assert err.value.body()["status"] == 422


def test_no_videos_at_all_is_a_422() -> None:
    with pytest.raises(RequestRejected) as err:
        build_dataset([], [skip("a.png", "image"), skip("n.pdf", "unsupported")], SMALL, conditioning_frames=8)
    assert err.value.details[0].type == "no_videos"


def test_unusable_videos_are_named() -> None:
    with pytest.raises(RequestRejected) as err:
        build_dataset([], [skip("a.mp4", "too_short"), skip("b.mp4", "unreadable")], SMALL, conditioning_frames=8)
    assert err.value.details[0].type == "no_usable_videos" and "b.mp4" in err.value.details[0].msg


def test_missing_audio_names_every_clip_even_when_others_are_fine() -> None:
    with pytest.raises(RequestRejected) as err:
        build_dataset(
            [window(0)],
            [skip("x/mute.mp4", "no_audio"), skip("y.mp4", "no_audio")],
            SMALL.model_copy(update={"with_audio": True}),
            conditioning_frames=8,
        )
    assert [d.loc for d in err.value.details] == [
        ("body", "training_data_url", "x/mute.mp4"),
        ("body", "training_data_url", "y.mp4"),
    ]


def test_fewer_than_ten_videos_is_a_warning_not_an_error() -> None:
    manifest = build_dataset([window(0), window(1), window(2, "b.mp4")], [], SMALL, conditioning_frames=8)
    assert len(manifest.clips) == 3
    assert manifest.warnings == ["only 2 usable video(s); at least 10 are recommended"]
    many = build_dataset([window(i, f"{i}.mp4") for i in range(10)], [], SMALL, conditioning_frames=8)
    assert many.warnings == []


def test_summary_lists_kept_and_skipped_with_reasons_and_tokens() -> None:
    manifest = build_dataset(
        [window(0)], [skip("a.png", "image"), skip("b.mp4", "too_short")], SMALL, conditioning_frames=8
    )
    report = summary(manifest)
    assert report["kept"][0]["file"] == "a.mp4" and report["kept"][0]["fps_conversion"] == "30 -> 24"
    assert report["kept"][0]["tokens"] == 3 * 2 * 2  # (17-1)/8+1 latent frames x 2 x 2 latent pixels
    assert report["kept"][0]["stretch_ratio"] == 1.0
    assert [(s["file"], s["reason"]) for s in report["skipped"]] == [("a.png", "image"), ("b.mp4", "too_short")]
    assert report["counts"]["skipped_by_reason"] == {"image": 1, "too_short": 1}
    json.dumps(report)  # the CLI prints it as JSON


# --- validation clips ------------------------------------------------------------------------------------------


def test_validation_clip_too_short_or_silent_is_named(tmp_path: Path) -> None:
    short = make_video(tmp_path / "short.mp4", seconds=0.25, fps=24)  # 6 frames < 8 at 24 fps
    fine = make_video(tmp_path / "fine.mp4", seconds=0.5, fps=24, audio=True)
    req = request(tmp_path / "x.zip", with_audio=True, validation=[{"video_url": str(fine)}, {"video_url": str(short)}])
    with pytest.raises(RequestRejected) as err:
        check_validation_clips(validation_spec(req), tmp_path / "w", allow_local=True)
    assert {(d.loc, d.type) for d in err.value.details} == {
        (("body", "validation", 1, "video_url"), "too_short"),
        (("body", "validation", 1, "video_url"), "missing_audio"),
    }
    # At a lower validation rate the same clip is long enough: 8 frames needed, 0.5 s x 16 fps = 8.
    ok = check_validation_clips(
        validation_spec(
            request(tmp_path / "x.zip", validation_frame_rate=16, validation=[{"video_url": str(fine), "prompt": "p"}])
        ),
        tmp_path / "w",
        allow_local=True,
    )
    assert [(v.index, v.prompt, v.probe.num_frames) for v in ok] == [(0, "p", 12)]


# --- prepare, end to end ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("media")
    return make_zip(
        d / "clips.zip",
        {
            "long/a.mp4": make_video(d / "a.mp4", seconds=1.5, fps=30, size=(160, 90), audio=True),  # 2 windows
            "long/a.txt": "a walk",
            "other/a.mp4": make_video(d / "b.mp4", seconds=1, fps=24, size=(90, 160), audio=True),  # 1 window
            "cuts.mkv": make_video(d / "c.mkv", seconds=2, fps=24, scene_cuts=[1.0], audio=True),  # 2 scenes, 1 each
            "tiny.mov": make_video(d / "d.mov", seconds=0.3, fps=24, audio=True),  # too short
            "still.jpg": make_image(d / "e.jpg"),
            "__MACOSX/long/._a.mp4": b"junk",
        },
    )


def test_prepare_runs_every_stage_and_reports(archive: Path, tmp_path: Path) -> None:
    req = request(archive, trigger_phrase="sks", split_input_duration_threshold=1.5)
    manifest = prepare(req, tmp_path / "work")
    report = summary(manifest)
    kept = sorted((k["file"], k["id"].rsplit("-", 1)[-1]) for k in report["kept"])
    assert len([k for k in kept if k[0] == "long/a.mp4"]) == 2
    assert len([k for k in kept if k[0] == "other/a.mp4"]) == 1
    assert len([k for k in kept if k[0] == "cuts.mkv"]) == 2  # one window per scene
    assert {(s["file"], s["type"]) for s in report["skipped"]} == {("tiny.mov", "too_short"), ("still.jpg", "image")}
    assert {c.caption for c in manifest.clips if c.rel_path == "long/a.mp4"} == {"sks a walk"}
    for clip in manifest.clips:
        assert frame_count(Path(clip.video_path)) == 17
        s = stream_info(Path(clip.video_path))["streams"][0]
        assert (s["width"], s["height"]) == (512, 288)
        assert clip.audio_path is None
    assert (manifest.width, manifest.height, manifest.num_frames, manifest.conditioning_frames) == (512, 288, 17, 8)
    assert report["warnings"] == ["only 3 usable video(s); at least 10 are recommended"]
    assert len(list((tmp_path / "work" / "dataset").glob("*/dataset.json"))) == 1
    # A second run finds every stage finished: same manifest, no output rewritten.
    before = {c.video_path: Path(c.video_path).stat().st_mtime_ns for c in manifest.clips}
    again = prepare(req, tmp_path / "work")
    assert again == manifest
    assert {c.video_path: Path(c.video_path).stat().st_mtime_ns for c in again.clips} == before


def test_prepare_with_audio_and_debug_dataset(archive: Path, tmp_path: Path) -> None:
    req = request(
        archive,
        with_audio=True,
        debug_dataset=True,
        split_input_into_scenes=False,
        resolution="low",
        aspect_ratio="1:1",
    )
    manifest = prepare(req, tmp_path / "work")
    assert manifest.with_audio and all(c.audio_path for c in manifest.clips)
    (debug,) = (tmp_path / "work" / "debug-dataset").glob("*/debug_dataset.zip")
    with zipfile.ZipFile(debug) as zf:
        names = set(zf.namelist())
        assert {"manifest.json", "summary.json"} <= names
        assert {f"clips/{c.id}.mp4" for c in manifest.clips} <= names
        assert zf.read(f"clips/{manifest.clips[0].id}.txt").decode().strip() == manifest.clips[0].caption
        zf.extract(f"clips/{manifest.clips[0].id}.mp4", tmp_path / "dbg")
    mp4 = tmp_path / "dbg" / "clips" / f"{manifest.clips[0].id}.mp4"
    streams = {s["codec_type"]: s for s in stream_info(mp4)["streams"]}
    assert streams["audio"]["sample_rate"] == "16000" and streams["audio"]["channels"] == 2
    assert frame_count(mp4) == 17


def test_prepare_rejects_silent_clips_when_audio_is_on(tmp_path: Path) -> None:
    d = tmp_path / "m"
    archive = make_zip(
        d / "in.zip",
        {
            "loud.mp4": make_video(d / "l.mp4", seconds=1, audio=True),
            "sub/mute.mp4": make_video(d / "m.mp4", seconds=1),
        },
    )
    with pytest.raises(RequestRejected) as err:
        prepare(request(archive, with_audio=True), tmp_path / "work")
    assert [d.loc for d in err.value.details] == [("body", "training_data_url", "sub/mute.mp4")]
    assert not (tmp_path / "work" / "fit").exists()  # refused before anything was fitted


def test_prepare_all_too_short(tmp_path: Path) -> None:
    d = tmp_path / "m"
    archive = make_zip(
        d / "in.zip", {"a.mp4": make_video(d / "a.mp4", seconds=0.3), "b.mp4": make_video(d / "b.mp4", seconds=0.4)}
    )
    with pytest.raises(RequestRejected) as err:
        prepare(request(archive), tmp_path / "work")
    assert err.value.details[0].msg == TOO_SHORT_MESSAGE


def test_prepare_refuses_local_input_where_not_allowed(archive: Path, tmp_path: Path) -> None:
    with pytest.raises(RequestRejected) as err:
        prepare(request(archive), tmp_path / "work", allow_local=False)
    assert err.value.details[0].loc == ("body", "training_data_url")
    assert not (tmp_path / "work").exists()


def test_debug_dataset_without_audio_holds_the_fitted_files(tmp_path: Path) -> None:
    video = make_video(tmp_path / "w.mp4", seconds=17 / 24)
    clip = window(0).model_copy(update={"video_path": str(video)})
    manifest = build_dataset([clip], [], SMALL, conditioning_frames=8)
    out = write_debug_dataset(manifest, tmp_path / "out" / "debug.zip")
    with zipfile.ZipFile(out) as zf:
        assert zf.read("clips/c0.mp4") == video.read_bytes()
        assert json.loads(zf.read("manifest.json"))["clips"][0]["id"] == "c0"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["debug.zip"]
