"""A small synthetic dataset for the demo: squares that glide at a constant velocity into a closing position.

The lead-in of each clip is predictable from its closing frames (constant velocity), so even the tiny preset has
something learnable, and the held-out validation loss can show learning. Each clip has a sine tone whose pitch is
tied to the square's colour, so audio runs have an in-sync soundtrack.
"""

from __future__ import annotations

import random
import zipfile
from pathlib import Path

import ffmpeg as ffmpeg_python

from ltxcore.media import ffmpeg_bin

_COLOURS = [("red", 440), ("yellow", 523), ("cyan", 659), ("magenta", 784), ("lime", 330), ("orange", 392)]


def moving_square_clip(
    path: Path,
    *,
    seconds: float,
    fps: int,
    size: tuple[int, int],
    colour: str,
    tone_hz: int,
    start: tuple[float, float],
    velocity: tuple[float, float],
    audio: bool = True,
) -> Path:
    """Render one clip with ffmpeg: a square moving from `start` (px) at `velocity` (px/s) over a dark background."""
    w, h = size
    side = max(4, min(w, h) // 5)
    x = f"{start[0]:.2f}+{velocity[0]:.2f}*t"
    y = f"{start[1]:.2f}+{velocity[1]:.2f}*t"
    background = ffmpeg_python.input(f"color=c=0x1a1a2e:s={w}x{h}:r={fps}:d={seconds}", f="lavfi")
    square = ffmpeg_python.input(f"color=c={colour}:s={side}x{side}:r={fps}:d={seconds}", f="lavfi")
    streams = [ffmpeg_python.overlay(background, square, x=x, y=y, shortest=1)]
    sound: dict[str, str] = {}
    if audio:
        tone = ffmpeg_python.input(f"sine=frequency={tone_hz}:sample_rate=48000:duration={seconds}", f="lavfi")
        streams.append(tone.audio)
        sound = {"c:a": "aac", "b:a": "64k"}
    graph = ffmpeg_python.output(
        *streams, str(path), **{"c:v": "libx264", "preset": "ultrafast"}, pix_fmt="yuv420p", r=str(fps), **sound
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg_bin.run_ffmpeg(graph, timeout=120)
    return path


def make_demo_archive(
    out_dir: Path,
    *,
    clips: int = 6,
    seconds: float = 2.0,
    fps: int = 24,
    size: tuple[int, int] = (96, 96),
    audio: bool = True,
    seed: int = 0,
) -> tuple[Path, Path]:
    """Write `dataset.zip` (clips with captions) and `closing.mp4` (a held-out validation clip); return both paths."""
    rng = random.Random(seed)
    src = out_dir / "src"
    zip_path = out_dir / "dataset.zip"
    out_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w") as zf:
        for i in range(clips):
            colour, tone = _COLOURS[i % len(_COLOURS)]
            speed = rng.uniform(15, 30)
            direction = rng.choice([(1, 0), (0, 1), (1, 1)])
            clip = moving_square_clip(
                src / f"clip_{i:02d}.mp4",
                seconds=seconds,
                fps=fps,
                size=size,
                colour=colour,
                tone_hz=tone,
                start=(rng.uniform(0, size[0] / 4), rng.uniform(0, size[1] / 4)),
                velocity=(speed * direction[0], speed * direction[1]),
                audio=audio,
            )
            zf.write(clip, f"clips/{clip.name}")
            zf.writestr(f"clips/clip_{i:02d}.txt", f"a {colour} square glides across a dark room and stops")
    closing = moving_square_clip(
        out_dir / "closing.mp4",
        seconds=seconds,
        fps=fps,
        size=size,
        colour="white",
        tone_hz=600,
        start=(size[0] / 8, size[1] / 2),
        velocity=(20.0, 0.0),
        audio=audio,
    )
    return zip_path, closing
