"""A frame strip: a few evenly spaced frames of a clip side by side in one small PNG, so a preview can be judged at a
glance in the Prefect UI without playing the video."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ltxcore.media.ffmpeg_bin import ffmpeg


def frame_strip(video: Path, out: Path, num_frames: int, count: int = 6, height: int = 96) -> Path:
    """Write `count` evenly spaced frames of `video` (which has `num_frames` frames), each `height` px tall, in one
    row to `out` (PNG)."""
    every = max(1, num_frames // count)
    filters = f"select='not(mod(n\\,{every}))',scale=-2:{height},tile={count}x1"
    cmd = [ffmpeg(), "-v", "error", "-y", "-protocol_whitelist", "file", "-i", str(video)]
    cmd += ["-vf", filters, "-frames:v", "1", "-fps_mode", "passthrough", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return out
