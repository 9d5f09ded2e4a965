"""Writing the outputs with ffmpeg: frames (and a waveform) to an H.264 mp4, and waveforms to WAV.

Frames go in as raw RGB on stdin, audio as a float WAV beside it; the mp4 gets AAC audio only when a waveform is given,
so a video-only extension has no audio stream at all (not a silent one). The file appears atomically.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import ffmpeg as ffmpeg_python
import numpy as np
import soundfile as sf

from ltxcore.media import ffmpeg_bin
from ltxcore.media.ffmpeg_bin import X264_OPTIONS


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> Path:
    """float32 [channels, samples] -> a float WAV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.ascontiguousarray(audio.T), sample_rate, subtype="FLOAT", format="WAV")
    return path


def write_mp4(
    path: Path, frames: np.ndarray, fps: float, audio: np.ndarray | None = None, sample_rate: int = 48_000
) -> Path:
    """uint8 [F, H, W, 3] at `fps` (+ float32 [channels, samples] at `sample_rate`) -> `path` (H.264 + AAC)."""
    assert frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[-1] == 3, f"bad frames {frames.shape}"
    h, w = frames.shape[1:3]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".mux-") as tmp:
        video = ffmpeg_python.input("pipe:0", f="rawvideo", pix_fmt="rgb24", s=f"{w}x{h}", r=f"{fps:g}")
        streams = [video.video]
        sound: dict[str, str] = {}
        if audio is not None:
            streams.append(ffmpeg_python.input(str(write_wav(Path(tmp) / "audio.wav", audio, sample_rate))).audio)
            sound = {"c:a": "aac", "b:a": "192k"}
        part = Path(tmp) / "out.mp4"
        graph = ffmpeg_python.output(
            *streams, str(part), **X264_OPTIONS, **sound, r=f"{fps:g}", movflags="+faststart", f="mp4"
        )
        try:
            ffmpeg_bin.run_ffmpeg(graph, timeout=600, input=np.ascontiguousarray(frames).tobytes())
        except ffmpeg_bin.FFmpegError as exc:
            raise ffmpeg_bin.FFmpegError(f"ffmpeg could not write {path}: {exc.reason}", exc.stderr) from None
        os.replace(part, path)
    return path


def resample_wav(src: Path, dst: Path, sample_rate: int, seconds: float) -> Path:
    """`src` resampled to `sample_rate` stereo float, cut or padded with silence to exactly `seconds`."""
    samples = round(sample_rate * seconds)
    graph = (
        ffmpeg_python.input(str(src))
        .audio.filter("aresample", sample_rate)
        .filter("apad", whole_len=samples)
        .filter("atrim", end_sample=samples)
        .output(str(dst), ac=2, acodec="pcm_f32le", f="wav")
    )
    try:
        ffmpeg_bin.run_ffmpeg(graph, timeout=300)
    except ffmpeg_bin.FFmpegError as exc:
        raise ffmpeg_bin.FFmpegError(f"ffmpeg could not resample {src}: {exc.reason}", exc.stderr) from None
    return dst
