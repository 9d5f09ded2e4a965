"""Writing the outputs with ffmpeg: frames (and a waveform) to an H.264 mp4, and waveforms to WAV.

Frames go in as raw RGB on stdin, audio as a float WAV beside it; the mp4 gets AAC audio only when a waveform is given,
so a video-only extension has no audio stream at all (not a silent one). The file appears atomically.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from ltxcore.media import ffmpeg_bin
from ltxcore.media.ffmpeg_bin import X264


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> Path:
    """float32 [channels, samples] -> a float WAV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.ascontiguousarray(audio.T), sample_rate, subtype="FLOAT", format="WAV")
    return path


def write_mp4(path: Path, frames: np.ndarray, fps: float, audio: np.ndarray | None = None,
              sample_rate: int = 48_000) -> Path:
    """uint8 [F, H, W, 3] at `fps` (+ float32 [channels, samples] at `sample_rate`) -> `path` (H.264 + AAC)."""
    assert frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[-1] == 3, f"bad frames {frames.shape}"
    h, w = frames.shape[1:3]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".mux-") as tmp:
        cmd = [ffmpeg_bin.ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{fps:g}", "-i", "pipe:0"]
        if audio is not None:
            cmd += ["-i", str(write_wav(Path(tmp) / "audio.wav", audio, sample_rate)), "-map", "0:v", "-map", "1:a",
                    "-c:a", "aac", "-b:a", "192k"]
        part = Path(tmp) / "out.mp4"
        cmd += [*X264, "-r", f"{fps:g}", "-movflags", "+faststart", "-f", "mp4", str(part)]
        out = subprocess.run(cmd, input=np.ascontiguousarray(frames).tobytes(), capture_output=True, timeout=600)
        if out.returncode != 0:
            raise RuntimeError(f"ffmpeg could not write {path}: {out.stderr.decode(errors='replace')[-500:]}")
        os.replace(part, path)
    return path


def resample_wav(src: Path, dst: Path, sample_rate: int, seconds: float) -> Path:
    """`src` resampled to `sample_rate` stereo float, cut or padded with silence to exactly `seconds`."""
    samples = round(sample_rate * seconds)
    cmd = [ffmpeg_bin.ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(src),
           "-af", f"aresample={sample_rate},apad=whole_len={samples},atrim=end_sample={samples}",
           "-ac", "2", "-c:a", "pcm_f32le", "-f", "wav", str(dst)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"ffmpeg could not resample {src}: {out.stderr[-500:]}")
    return dst
