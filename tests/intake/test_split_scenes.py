"""split_scenes: hard cuts found by PySceneDetect become clips that keep the caption; short clips stay whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from ltxcore.intake.scenes import split_scenes
from ltxcore.manifests import SourceClip
from ltxcore.media.probe import probe
from tests.support.clips import make_video


def clip_of(path: Path) -> SourceClip:
    return SourceClip(
        id="cuts-1a2b", path=str(path), rel_path="dir/cuts.mp4", caption="a red then blue room", probe=probe(path)
    )


def test_long_clip_is_cut_at_its_scene_boundaries(tmp_path: Path) -> None:
    clip = clip_of(make_video(tmp_path / "cuts.mp4", seconds=6, fps=24, scene_cuts=[2.0, 4.5]))
    scenes = split_scenes(clip, 3.0, tmp_path / "split")
    assert [(s.start, s.end) for s in scenes] == [
        pytest.approx((0.0, 2.0), abs=1 / 24),
        pytest.approx((2.0, 4.5), abs=1 / 24),
        pytest.approx((4.5, 6.0), abs=1 / 24),
    ]
    assert [s.id for s in scenes] == ["cuts-1a2b-scene000", "cuts-1a2b-scene001", "cuts-1a2b-scene002"]
    assert {s.caption for s in scenes} == {"a red then blue room"}
    assert {s.rel_path for s in scenes} == {"dir/cuts.mp4"}
    assert [s.probe.num_frames for s in scenes if s.probe] == [48, 60, 36]


def test_clip_under_the_threshold_is_untouched(tmp_path: Path) -> None:
    clip = clip_of(make_video(tmp_path / "cuts.mp4", seconds=3, fps=24, scene_cuts=[1.5]))
    assert split_scenes(clip, 3.0, tmp_path / "split") == [clip]
    assert not (tmp_path / "split").exists()


def test_clip_without_cuts_stays_one_clip(tmp_path: Path) -> None:
    clip = clip_of(make_video(tmp_path / "one.mp4", seconds=4, fps=24))
    assert split_scenes(clip, 2.0, tmp_path / "split") == [clip]


def test_detection_is_remembered(tmp_path: Path) -> None:
    # The source lies outside the work root (as an input the store does not own): the store reuses a manifest only
    # while the files it names under the work root exist, so this checks the detection alone is remembered.
    path = make_video(tmp_path / "src" / "cuts.mp4", seconds=4, fps=24, scene_cuts=[2.0])
    clip = clip_of(path)
    out = tmp_path / "work" / "split" / "key"
    first = split_scenes(clip, 1.0, out)
    path.unlink()  # a second call must not need to decode it again
    assert split_scenes(clip, 1.0, out) == first
    assert len(first) == 2


def test_a_skipped_scene_names_its_time_range_in_the_source(tmp_path: Path) -> None:
    from ltxcore.intake.fit import FitSettings, fit_clip
    from ltxcore.intake.report import summary
    from ltxcore.manifests import DatasetManifest, SkippedClip

    clip = clip_of(make_video(tmp_path / "cuts.mp4", seconds=5, fps=24, scene_cuts=[2.0, 2.625]))
    scenes = split_scenes(clip, 3.0, tmp_path / "split")
    assert len(scenes) == 3
    settings = FitSettings(num_frames=17, fps=24, width=64, height=64)  # 0.708 s: the 0.625 s middle shot is short
    results = [fit_clip(s, settings, tmp_path / "fit") for s in scenes]
    skips = [r for r in results if isinstance(r, SkippedClip)]
    kept = [c for r in results if isinstance(r, list) for c in r]
    (skip,) = skips
    assert (skip.file, skip.type) == ("dir/cuts.mp4", "too_short")
    assert (skip.start, skip.end) == (pytest.approx(2.0, abs=1 / 24), pytest.approx(2.625, abs=1 / 24))
    assert f"the scene from {skip.start:.2f} s to {skip.end:.2f} s" in skip.reason
    manifest = DatasetManifest(
        clips=kept, skipped=skips, num_frames=17, fps=24, width=64, height=64, conditioning_frames=8, with_audio=False
    )
    (entry,) = summary(manifest)["skipped"]
    assert entry["source_range_s"] == [skip.start, skip.end]


def test_a_skipped_whole_file_has_no_time_range(tmp_path: Path) -> None:
    from ltxcore.intake.fit import FitSettings, fit_clip

    short = clip_of(make_video(tmp_path / "short.mp4", seconds=0.5, fps=24))
    skip = fit_clip(short, FitSettings(num_frames=17, fps=24, width=64, height=64), tmp_path / "fit")
    assert not isinstance(skip, list) and (skip.start, skip.end) == (None, None) and skip.reason.startswith("0.50 s")
