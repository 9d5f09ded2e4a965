"""Probe a video with ffprobe, which may only ever open that one local file.

Every ffmpeg/ffprobe input in this project goes through `ffmpeg_bin.INPUT_GUARD` (the `file` protocol only and a
demuxer allow-list), so a crafted "video" (an HLS or concat playlist saved as .avi, say) is refused instead of
being followed. Declared sizes and durations are checked before any frame is decoded.
"""

from __future__ import annotations

import itertools
import json
import statistics
from fractions import Fraction
from pathlib import Path

from ltxcore.manifests import ExtractResult, ProbeInfo, SkippedClip, SourceClip
from ltxcore.media import ffmpeg_bin
from ltxcore.media.ffmpeg_bin import ALLOWED_DEMUXERS, INPUT_GUARD

__all__ = ["ALLOWED_DEMUXERS", "INPUT_GUARD", "ProbeError", "presented_frames", "probe", "probe_clips"]
MAX_SIDE = 8192  # pixels; 8K is the largest real recording format
MAX_DURATION_S = 3 * 3600.0
MAX_FPS = 480.0
VFR_SPREAD = 1.5  # longest / shortest frame interval above which the rate counts as variable
TIMEOUT_S = 180
_PLAYLIST_MAGIC = (b"#EXTM3U", b"#EXT", b"ffconcat", b"[playlist]", b"<?xml", b"<smil")


class ProbeError(Exception):
    """The file cannot be used as a video; `type` is the machine-readable reason for the skip list."""

    def __init__(self, reason: str, type: str = "unreadable"):
        super().__init__(reason)
        self.reason = reason
        self.type = type


def probe(path: Path) -> ProbeInfo:
    """Frames, rate (variable or not), duration, displayed size, rotation and audio presence of a local video."""
    path = Path(path)
    _sniff(path)
    meta = _ffprobe_json(path, "-show_format", "-show_streams")
    video = _check_container(meta)
    times, end = presented_frames(path)
    if not times:
        raise ProbeError("no video frame could be read", "unreadable")
    return _info(meta, video, times, end)


def probe_clips(clips: ExtractResult) -> ExtractResult:
    """Probe every clip; an unreadable or refused file moves to `skipped` with its reason instead of failing."""
    kept: list[SourceClip] = []
    skipped = list(clips.skipped)
    for clip in clips.clips:
        try:
            kept.append(clip.model_copy(update={"probe": probe(Path(clip.path))}))
        except ProbeError as exc:
            skipped.append(SkippedClip(file=clip.rel_path, reason=exc.reason, type=exc.type))
    return ExtractResult(clips=kept, skipped=skipped)


def _sniff(path: Path) -> None:
    if not path.is_file() or path.stat().st_size == 0:
        raise ProbeError("file is empty or missing", "unreadable")
    with path.open("rb") as f:
        head = f.read(64).lstrip()
    if head.startswith(_PLAYLIST_MAGIC):
        raise ProbeError("file is a playlist or text, not a video", "unsafe")


def _run(args: list[str]) -> str:
    try:
        return ffmpeg_bin.run_ffprobe(*INPUT_GUARD, *args, timeout=TIMEOUT_S)
    except ffmpeg_bin.FFmpegError as exc:  # "ffprobe failed (<its message>)" or "ffprobe took longer than ..."
        raise ProbeError(exc.reason.replace("ffprobe failed", "not a readable video"), "unreadable") from None


def _ffprobe_json(path: Path, *what: str) -> dict:
    return json.loads(_run([*what, "-of", "json", "file:" + str(path.resolve())]))


def _check_container(meta: dict) -> dict:
    """The first video stream, after refusing foreign demuxers and absurd declared geometry or length."""
    fmt = meta.get("format", {})
    if not set(fmt.get("format_name", "").split(",")) <= set(ALLOWED_DEMUXERS):
        raise ProbeError(f"container {fmt.get('format_name')!r} is not a video file format", "unsafe")
    videos = [
        s
        for s in meta.get("streams", [])
        if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
    ]
    if not videos:
        raise ProbeError("has no video stream", "unreadable")
    v = videos[0]
    w, h = int(v.get("width") or 0), int(v.get("height") or 0)
    if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
        raise ProbeError(f"declares a {w}x{h} picture; sides must be 1..{MAX_SIDE}", "absurd")
    duration = _float(fmt.get("duration")) or _float(v.get("duration")) or 0.0
    if duration > MAX_DURATION_S:
        raise ProbeError(f"declares {duration:.0f} s; the limit is {MAX_DURATION_S:.0f} s", "absurd")
    return v


def presented_frames(path: Path) -> tuple[list[float], float | None]:
    """Start times (s, sorted) of the video frames a player presents, and where the last one ends (None: unknown).

    Counted from the packets the file really gives (a truncated file gives fewer), as a player would:
    - packets an MP4/MOV edit list discards (pre-roll before a stream-copy cut, flag `D`) are not presented;
    - a container without presentation times (H.264 or MPEG-4 in AVI) is timed by its decode times, which for
      such files are the presentation order at the nominal rate;
    - the end is the last frame's start plus its own duration (a sparse variable-rate capture may hold its last
      frame for seconds), not the last start plus a typical gap.
    """
    out = _run(
        [
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time,dts_time,duration_time,flags",
            "-of",
            "compact=p=0",
            "file:" + str(path.resolve()),
        ]
    )
    packets = [dict(kv.split("=", 1) for kv in line.split("|") if "=" in kv) for line in out.splitlines()]
    packets = [p for p in packets if "D" not in p.get("flags", "")]
    key = "pts_time" if all(_float(p.get("pts_time")) is not None for p in packets) else "dts_time"
    timed = sorted((t, _float(p.get("duration_time")) or 0.0) for p in packets if (t := _float(p.get(key))) is not None)
    if not timed:
        return [], None
    ends = [t + d for t, d in timed if d > 0]
    return [t for t, _ in timed], (max(ends) if ends else None)


def _info(meta: dict, video: dict, times: list[float], end: float | None) -> ProbeInfo:
    n = len(times)
    steps = [b - a for a, b in itertools.pairwise(times) if b > a]
    step = statistics.median(steps) if steps else 1 / 24
    vfr = bool(steps) and max(steps) > VFR_SPREAD * min(steps)
    # A constant rate is measured from the frames' starts (a stream-copy cut may stretch the last frame to the edit
    # list's end); a variable one is the count over the presented span, which ends where the last frame does.
    span = (end if end is not None and end > times[-1] else times[-1] + step) - times[0]
    measured = n / span if vfr else n / (times[-1] - times[0] + step)
    declared = _rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate"))
    fps = declared if declared and not vfr and abs(declared - measured) <= 0.02 * measured else measured
    if not 0 < fps <= MAX_FPS:
        raise ProbeError(f"frame rate {fps:.1f} is outside 0..{MAX_FPS:.0f}", "absurd")
    duration = n / fps if not vfr else span
    rotation = _rotation(video)
    w, h = display_size(video)
    if rotation in (90, 270):
        w, h = h, w
    has_audio = any(s.get("codec_type") == "audio" for s in meta.get("streams", []))
    return ProbeInfo(
        width=w,
        height=h,
        fps=round(fps, 6),
        num_frames=n,
        duration=round(duration, 6),
        rotation=rotation,
        has_audio=has_audio,
        vfr=vfr,
        codec=str(video.get("codec_name", "")),
    )


def display_size(video: dict) -> tuple[int, int]:
    """The picture as shown: stored width x height with non-square pixels (sample aspect ratio, as DV and anamorphic
    recordings use) widened or narrowed to square ones, before rotation."""
    w, h = int(video["width"]), int(video["height"])
    sar = _rate((video.get("sample_aspect_ratio") or "1:1").replace(":", "/")) or 1.0
    return (max(1, round(w * sar)), h) if sar != 1.0 else (w, h)


def _rotation(video: dict) -> int:
    """Clockwise degrees (0/90/180/270); ffprobe reports the display matrix counter-clockwise."""
    ccw = 0.0
    for side in video.get("side_data_list", []):
        if "rotation" in side:
            ccw = float(side["rotation"])
    if not ccw and "rotate" in video.get("tags", {}):
        ccw = -float(video["tags"]["rotate"])  # the old tag is clockwise
    return round(-ccw / 90) * 90 % 360


def _rate(text: str | None) -> float | None:
    try:
        value = Fraction(text or "")
    except (ValueError, ZeroDivisionError):
        return None
    return float(value) if value > 0 else None


def _float(text: object) -> float | None:
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
