"""Fit one source clip into training windows: exactly `num_frames` frames at `fps`, filling the bucket.

Which frames a clip gives (the window plan):
- Backward extension learns to lead up to a clip's ENDING, so windows are aligned to the real end of the clip: the
  first window is its last `num_frames / fps` seconds, never its first frames. A longer clip then gives further
  non-overlapping windows before that one, each again ending where the next begins, up to `max_windows` per clip
  (default 4). Non-overlapping, because overlapping windows repeat frames rather than add data; capped, so that one
  long clip cannot outweigh ten short ones. Only the window aligned to the true end shows the real closing of the
  clip; the earlier ones are ordinary continuous footage, which still teaches motion leading up to a moment.
- A clip shorter than one window at the target rate is skipped ("too_short"), unless `auto_scale` is on: then its
  whole length is time-stretched to exactly one window (speed = source seconds per output second, below 1).

How it is produced: ONE ffmpeg process per clip decodes from the earliest window's start to the clip's end once
(the input is seeked, so the part before is never decoded), converts the rate with the `fps` filter, scales to
fill and centre-crops by the display aspect (non-square pixels too), and splits into one encoder per window; the
audio goes the same way at 16 kHz stereo float32. Frames stream through ffmpeg; nothing holds the video in memory.
Rotation is honoured by ffmpeg's autorotate, which applies the display matrix before our filters.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import ffmpeg as ffmpeg_python
import numpy as np
import soundfile as sf
from pydantic import BaseModel, ConfigDict, Field

from ltxcore.geometry import AUDIO_SAMPLE_RATE
from ltxcore.manifests import FittedClip, SkippedClip, SourceClip
from ltxcore.media import ffmpeg_bin
from ltxcore.media.ffmpeg_bin import INPUT_GUARD, X264_OPTIONS

PEAK = 10 ** (-1 / 20)  # peak normalisation target: -1 dBFS, headroom for the codec and the vocoder
_EPS = 1e-4  # probe rounds durations to 1e-6 s, up to 3e-5 of a frame at 60 fps: an exact clip must still count


class FitSettings(BaseModel):
    """Everything fitting needs from the request, and nothing else."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    num_frames: int = Field(description="Frames per window, 8k+1.")
    fps: float = Field(gt=0, description="Target frames per second.")
    width: int = Field(gt=0, multiple_of=32, description="Bucket width in pixels (VAE stride 32).")
    height: int = Field(gt=0, multiple_of=32, description="Bucket height in pixels (VAE stride 32).")
    auto_scale: bool = Field(default=False, description="Time-stretch clips shorter than one window to fit it.")
    with_audio: bool = False
    audio_normalize: bool = True
    audio_preserve_pitch: bool = True
    max_windows: int = Field(default=4, ge=1, description="Most end-aligned windows taken from one clip.")
    trigger_phrase: str = ""

    @property
    def window_s(self) -> float:
        return self.num_frames / self.fps

    @property
    def audio_samples(self) -> int:
        """Samples of one window's audio: round(16000 * num_frames / fps)."""
        return round(AUDIO_SAMPLE_RATE * self.window_s)


class Window(BaseModel):
    """One planned window: [start, end) seconds of the source, played at `speed` (source s per output s)."""

    model_config = ConfigDict(frozen=True)

    start: float
    end: float
    speed: float = 1.0


def whole_frames(seconds: float, fps: float) -> int:
    """Whole frames `seconds` of video give at `fps`: a clip exactly n frames long counts n, though its probed
    duration is rounded to 1e-6 s (8 frames at 24 fps probe as 0.333333 s, which is 7.99999 frames)."""
    return math.floor(seconds * fps + _EPS)


def plan_windows(clip: SourceClip, s: FitSettings) -> list[Window] | SkippedClip:
    """End-aligned, non-overlapping windows (earliest first), or the reason the clip gives none."""
    assert clip.probe is not None, "probe the clip before fitting it"
    available = whole_frames(clip.duration, s.fps)
    if available >= s.num_frames:
        count = min(s.max_windows, available // s.num_frames)
        ends = [clip.stop - i * s.window_s for i in range(count)]
        return [Window(start=e - s.window_s, end=e) for e in reversed(ends)]
    if s.auto_scale and clip.probe.num_frames >= 2:
        return [Window(start=clip.start, end=clip.stop, speed=clip.duration / s.window_s)]
    return skipped(
        clip,
        "too_short",
        f"{clip.duration:.2f} s gives {available} frames at {s.fps:g} fps; "
        f"{s.num_frames} are needed ({s.window_s:.2f} s). Turn on auto_scale_input to resample short clips",
    )


def skipped(clip: SourceClip, type: str, reason: str) -> SkippedClip:
    """Why `clip` gives no window. A scene of a longer file also names its time range in that file, so the user
    can tell which shot was dropped."""
    if clip.end is None and clip.start == 0:
        return SkippedClip(file=clip.rel_path, reason=reason, type=type)
    start, end = round(clip.start, 3), round(clip.stop, 3)
    return SkippedClip(
        file=clip.rel_path,
        type=type,
        start=start,
        end=end,
        reason=f"the scene from {start:.2f} s to {end:.2f} s: {reason}",
    )


def fit_clip(clip: SourceClip, settings: FitSettings, out_dir: Path) -> list[FittedClip] | SkippedClip:
    """Write the clip's windows as `<id>-w<k>.mp4` (+ `.wav`) in `out_dir`; w0 is the window at the clip's end."""
    assert clip.probe is not None, "probe the clip before fitting it"
    if settings.with_audio and not clip.probe.has_audio:
        return skipped(clip, "no_audio", "has no audio track, and with_audio is on")
    plan = plan_windows(clip, settings)
    if isinstance(plan, SkippedClip):
        return plan
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [f"{clip.id}-w{len(plan) - 1 - i}" for i in range(len(plan))]
    tmp = [out_dir / f".{n}.part" for n in names]
    failure = _run_ffmpeg(clip, plan, settings, tmp)
    failure = failure or _check_outputs(tmp, settings)
    if failure:
        for t in tmp:
            for ext in (".mp4", ".wav"):
                t.with_suffix(ext).unlink(missing_ok=True)
        return skipped(clip, "unreadable", failure)
    if settings.with_audio and settings.audio_normalize:
        for t in tmp:
            peak_normalize(t.with_suffix(".wav"))
    return [_publish(clip, w, name, t, settings, out_dir) for w, name, t in zip(plan, names, tmp, strict=True)]


def caption_with_trigger(caption: str, trigger: str) -> str:
    """The trigger phrase first (once), then the caption."""
    trigger = trigger.strip()
    if not trigger or caption.startswith(trigger):
        return caption or trigger
    return f"{trigger} {caption}".strip()


# --- the one ffmpeg pass ---------------------------------------------------------------------------------------


def ffmpeg_graph(clip: SourceClip, plan: list[Window], s: FitSettings, outputs: list[Path]) -> Any:
    """The ffmpeg-python graph that decodes the clip once and writes every window (video `.mp4`, audio `.wav`)."""
    t0, stop = plan[0].start, clip.stop
    source = ffmpeg_bin.guarded_input(Path(clip.path), ss=f"{t0:.6f}", t=f"{stop - t0 + _EPS:.6f}")
    videos = _video_windows(source["v:0"], plan, s)
    audios = _audio_windows(source["a:0"], plan, s) if s.with_audio else []
    nodes = []
    for i, out in enumerate(outputs):
        nodes.append(
            videos[i].output(str(out.with_suffix(".mp4")), **X264_OPTIONS, fps_mode="passthrough", an=None, f="mp4")
        )
        if s.with_audio:
            nodes.append(
                audios[i].output(
                    str(out.with_suffix(".wav")), acodec="pcm_f32le", ar=AUDIO_SAMPLE_RATE, ac=2, vn=None, f="wav"
                )
            )
    return ffmpeg_python.merge_outputs(*nodes)


def _video_windows(video: Any, plan: list[Window], s: FitSettings) -> list[Any]:
    """One stream per window: exactly num_frames frames at the bucket size, from one decode."""
    n, k = s.num_frames, len(plan)
    if plan[0].speed != 1.0:
        video = video.filter("setpts", f"(PTS-STARTPTS)/{plan[0].speed:.9f}")
    video = (
        video.filter("fps", fps=f"{s.fps:g}", start_time=0)  # rate first: at 30/60 -> 24 fps, dropped frames are
        .filter("scale", **_fill_scale(s.width, s.height))  # never scaled; fill by the DISPLAY aspect...
        .filter("crop", s.width, s.height)  # ...then cut the overflow evenly from both sides
        .filter("setsar", 1)
        .filter("format", "yuv420p")
        .filter("tpad", stop_mode="clone", stop=2)  # rounding at the very end may lose a frame; never more
    )
    split = video.filter_multi_output("split", k)
    return [split.stream(i).trim(start_frame=i * n, end_frame=(i + 1) * n).setpts("PTS-STARTPTS") for i in range(k)]


def _fill_scale(width: int, height: int) -> dict[str, str]:
    """`scale` options that make the picture cover width x height at its display aspect (`dar` = iw * sar / ih);
    the side that overflows is rounded up to even. `force_original_aspect_ratio` would judge by the stored pixels
    and squash a DV or anamorphic frame, whose pixels are not square."""
    wider = f"gt(dar,{width}/{height})"
    return {"w": f"if({wider},ceil({height}*dar/2)*2,{width})", "h": f"if({wider},{height},ceil({width}/dar/2)*2)"}


def _audio_windows(audio: Any, plan: list[Window], s: FitSettings) -> list[Any]:
    """One stream per window: exactly audio_samples samples of 16 kHz stereo float, aligned with the video."""
    k, per = len(plan), s.audio_samples
    audio = audio.filter("aresample", AUDIO_SAMPLE_RATE, first_pts=0, **{"async": 1}).filter(
        "aformat", sample_fmts="flt", channel_layouts="stereo"
    )  # gaps, a late start: silence
    speed = plan[0].speed
    if speed != 1.0 and s.audio_preserve_pitch:
        for factor in _atempo(speed):
            audio = audio.filter("atempo", f"{factor:.9f}")
    elif speed != 1.0:
        audio = audio.filter("asetrate", f"{AUDIO_SAMPLE_RATE * speed:.3f}").filter("aresample", AUDIO_SAMPLE_RATE)
    split = audio.filter("apad", whole_len=k * per + AUDIO_SAMPLE_RATE).filter_multi_output("asplit", k)
    windows = []
    for i in range(k):
        first = round(i * s.window_s * AUDIO_SAMPLE_RATE)
        windows.append(
            split.stream(i)
            .filter("atrim", start_sample=first, end_sample=first + per)
            .filter("asetpts", "PTS-STARTPTS")
        )
    return windows


def _atempo(speed: float) -> list[float]:
    """Factors of a pitch-preserving stretch by `speed`; one atempo takes 0.5..100, so slower ones are chained."""
    steps = []
    while speed < 0.5:
        steps.append(0.5)
        speed /= 0.5
    return [*steps, speed]


def _run_ffmpeg(clip: SourceClip, plan: list[Window], s: FitSettings, outputs: list[Path]) -> str | None:
    """Run the pass; a failure is returned as the reason the clip is skipped (the file is the user's)."""
    timeout = 300 + 20 * (clip.stop - plan[0].start)
    try:
        ffmpeg_bin.run_ffmpeg(ffmpeg_graph(clip, plan, s, outputs), timeout=timeout)
    except ffmpeg_bin.FFmpegError as exc:  # "ffmpeg failed (<its message>)" or "ffmpeg took longer than ..."
        return exc.reason.replace("ffmpeg failed", "could not be decoded").replace("ffmpeg took", "fitting took")
    return None


def _check_outputs(outputs: list[Path], s: FitSettings) -> str | None:
    """Every window must have exactly num_frames frames (and audio_samples samples): a broken file gives fewer."""
    for out in outputs:
        frames = count_frames(out.with_suffix(".mp4"))
        if frames != s.num_frames:
            return f"decoding gave {frames} frames where {s.num_frames} were expected (damaged file?)"
        if s.with_audio and sf.info(str(out.with_suffix(".wav"))).frames != s.audio_samples:
            return "decoding gave an audio track of the wrong length (damaged file?)"
    return None


def count_frames(path: Path) -> int:
    """Video packets ffprobe can read from `path` (0 when it cannot read the file)."""
    try:
        out = ffmpeg_bin.run_ffprobe(
            *INPUT_GUARD,
            "-select_streams",
            "v:0",
            "-count_packets",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "csv=p=0",
            "file:" + str(path.resolve()),
            timeout=120,
        )
    except ffmpeg_bin.FFmpegError:
        return 0
    return int(out.strip() or 0)


def peak_normalize(path: Path, peak: float = PEAK) -> None:
    """Scale a (short) WAV so its largest sample is `peak`; silence stays silence."""
    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)  # (samples, channels)
    top = float(np.abs(audio).max(initial=0.0))
    if top > 0:
        tmp = path.with_name(path.name + ".norm")
        sf.write(str(tmp), audio * (peak / top), rate, subtype="FLOAT", format="WAV")
        os.replace(tmp, path)


def _publish(clip: SourceClip, w: Window, name: str, tmp: Path, s: FitSettings, out_dir: Path) -> FittedClip:
    """Rename the finished window into place and describe it."""
    assert clip.probe is not None
    video = out_dir / f"{name}.mp4"
    os.replace(tmp.with_suffix(".mp4"), video)
    audio = None
    if s.with_audio:
        audio = out_dir / f"{name}.wav"
        os.replace(tmp.with_suffix(".wav"), audio)
    return FittedClip(
        id=name,
        source_id=clip.id,
        rel_path=clip.rel_path,
        video_path=str(video),
        audio_path=str(audio) if audio else None,
        caption=caption_with_trigger(clip.caption, s.trigger_phrase),
        num_frames=s.num_frames,
        fps=s.fps,
        width=s.width,
        height=s.height,
        source_start=round(w.start, 6),
        source_end=round(w.end, 6),
        speed=round(w.speed, 6),
        source_fps=clip.probe.fps,
    )
