"""Cut long clips at their scene boundaries (PySceneDetect's content detector), so no window spans a hard cut.

A scene is not re-encoded: it is the same file with a `start`/`end` in seconds, and fitting seeks to it. That keeps
one generation of compression and costs no disk. The detector reads the file through PyAV from an open file handle,
so no protocol or playlist can be followed from inside it (the file was probed first, see `probe.INPUT_GUARD`).
"""

from __future__ import annotations

from pathlib import Path

from scenedetect import ContentDetector, SceneManager
from scenedetect.backends.pyav import VideoStreamAv

from ltxcore.manifests import ExtractResult, SourceClip
from ltxcore.store.stage import compute_once

DETECTOR_THRESHOLD = 27.0  # PySceneDetect's default for ContentDetector: hard cuts, not camera motion
MIN_SCENE_S = 0.5  # shorter "scenes" are flashes or fades; they stay with their neighbour


def split_scenes(clip: SourceClip, threshold_s: float, out_dir: Path) -> list[SourceClip]:
    """The scenes of `clip` if it lasts longer than `threshold_s` seconds, else `[clip]` unchanged.

    Each scene keeps the caption and gets the id `<clip id>-scene<NNN>`. The detection is remembered in
    `out_dir/scenes.json`, so a rerun does not decode the clip again.
    """
    assert clip.probe is not None, "probe the clip before splitting it"
    if clip.duration <= threshold_s:
        return [clip]
    probe = clip.probe

    def detect(_out: Path) -> ExtractResult:
        bounds = detect_cuts(Path(clip.path), clip.start, clip.stop, probe.fps)
        return ExtractResult(
            clips=[_scene(clip, i, a, b) for i, (a, b) in enumerate(bounds)] if len(bounds) > 1 else [clip]
        )

    return compute_once(out_dir, ExtractResult, detect, manifest="scenes.json").clips


def detect_cuts(path: Path, start: float, stop: float, fps: float) -> list[tuple[float, float]]:
    """(start, end) seconds of each scene of `path` between `start` and `stop`."""
    video = VideoStreamAv(str(path), suppress_output=True)
    if start > 0:
        video.seek(start)
    manager = SceneManager()
    manager.auto_downscale = True  # detection works on ~256 px wide frames: cuts survive, the cost does not
    manager.add_detector(ContentDetector(threshold=DETECTOR_THRESHOLD, min_scene_len=max(1, round(MIN_SCENE_S * fps))))
    manager.detect_scenes(video, end_time=stop)
    scenes = manager.get_scene_list(start_in_scene=True)
    if not scenes:
        return [(start, stop)]
    bounds = [(a.seconds, b.seconds) for a, b in scenes]
    # The detector's last scene ends at the last decoded frame; the clip really ends at `stop`.
    bounds[0] = (start, bounds[0][1])
    bounds[-1] = (bounds[-1][0], stop)
    return bounds


def _scene(clip: SourceClip, i: int, start: float, end: float) -> SourceClip:
    assert clip.probe is not None
    probe = clip.probe.model_copy(update={"duration": end - start, "num_frames": round((end - start) * clip.probe.fps)})
    return clip.model_copy(update={"id": f"{clip.id}-scene{i:03d}", "start": start, "end": end, "probe": probe})
