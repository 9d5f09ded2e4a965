"""The toy world: one bouncing square with a tone that follows its height. Its past is fixed by its ending.

The rules (stated in docs/toy-world.md, so anyone can render held-out clips of it):
- 128x128 px at 24 fps, background RGB (40, 40, 40);
- one solid axis-aligned square, side 16 px, in one of six fully saturated colours;
- a constant integer velocity (vx, vy), each in -4..4 px per frame, not both 0; the square bounces elastically off
  the frame's edges (the component flips, the square stays fully inside);
- audio: a sine tone, 200 Hz with the square at the top edge to 800 Hz at the bottom, linear in the centre's y,
  continuous in phase.

Every frame is a pure function of the square's state, and stepping backward in time is stepping forward with the
velocity negated (the reflection is its own inverse), so the true lead-in of any closing clip is known exactly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

SIZE = 128
FPS = 24
SIDE = 16
BACKGROUND = (40, 40, 40)
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "cyan": (0, 255, 255),
    "magenta": (255, 0, 255),
}
MAX_SPEED = 4
LOW_HZ, HIGH_HZ = 200.0, 800.0
SAMPLE_RATE = 48_000
_LIMIT = SIZE - SIDE  # the largest top-left coordinate that keeps the square inside


@dataclass(frozen=True)
class Square:
    """The world's whole state: colour, top-left corner (px) and velocity (px per frame)."""

    colour: str
    x: int
    y: int
    vx: int
    vy: int

    def step(self) -> Square:
        """The state one frame later (elastic bounce off the edges)."""
        x, vx = _bounce(self.x + self.vx, self.vx)
        y, vy = _bounce(self.y + self.vy, self.vy)
        return replace(self, x=x, y=y, vx=vx, vy=vy)

    def reversed(self) -> Square:
        return replace(self, vx=-self.vx, vy=-self.vy)

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x + SIDE / 2, self.y + SIDE / 2)


def _bounce(p: int, v: int) -> tuple[int, int]:
    if p < 0:
        return -p, -v
    if p > _LIMIT:
        return 2 * _LIMIT - p, -v
    return p, v


def random_square(rng: random.Random) -> Square:
    """A state drawn uniformly: any colour, any position inside the frame, any allowed velocity."""
    while True:
        vx, vy = rng.randint(-MAX_SPEED, MAX_SPEED), rng.randint(-MAX_SPEED, MAX_SPEED)
        if vx or vy:
            break
    return Square(rng.choice(list(COLOURS)), rng.randint(0, _LIMIT), rng.randint(0, _LIMIT), vx, vy)


def states(first: Square, frames: int) -> list[Square]:
    """The square in each of `frames` frames, starting with `first`."""
    out = [first]
    for _ in range(frames - 1):
        out.append(out[-1].step())
    return out


def past(first: Square, frames: int) -> list[Square]:
    """The `frames` states before `first`, oldest first (the true lead-in of a clip that starts with `first`)."""
    back = states(first.reversed(), frames + 1)[1:]  # walking backward: newest first
    return [s.reversed() for s in reversed(back)]


def render_frames(squares: list[Square]) -> np.ndarray:
    """uint8 [F, 128, 128, 3], one frame per state."""
    frames = np.empty((len(squares), SIZE, SIZE, 3), dtype=np.uint8)  # [F, H, W, 3]
    frames[:] = BACKGROUND
    for frame, s in zip(frames, squares, strict=True):
        frame[s.y : s.y + SIDE, s.x : s.x + SIDE] = COLOURS[s.colour]
    return frames


def tone_hz(square: Square) -> float:
    """The tone's frequency for the square's height: 200 Hz at the top edge, 800 Hz at the bottom."""
    return LOW_HZ + (HIGH_HZ - LOW_HZ) * (square.centre[1] - SIDE / 2) / _LIMIT


def render_tone(squares: list[Square], fps: float = FPS, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """float32 [2, round(len/fps * rate)]: the tone at each frame's frequency, its phase carried across frames."""
    total = round(len(squares) / fps * sample_rate)
    frame_of_sample = np.minimum((np.arange(total) * fps / sample_rate).astype(np.int64), len(squares) - 1)  # [S]
    hz = np.array([tone_hz(s) for s in squares])[frame_of_sample]  # [S]
    phase = 2 * np.pi * np.cumsum(hz) / sample_rate  # [S] integrated frequency: no jump at a change
    wave = (0.5 * np.sin(phase)).astype(np.float32)  # [S]
    return np.stack([wave, wave])  # [2, S]


def write_clip(path: Path, squares: list[Square], *, audio: bool = True) -> Path:
    """Render the states to an H.264 mp4 at 24 fps (with the tone as AAC when `audio`)."""
    from ltxcore.media.mux import write_mp4

    sound = render_tone(squares) if audio else None
    return write_mp4(path, render_frames(squares), FPS, sound, SAMPLE_RATE)


MISSING_PX = 64.0  # half the frame: a frame with no square in it is as wrong as a guess can be


def track(frames: np.ndarray) -> np.ndarray:
    """The square's centre (x, y) in px in each frame [F, H, W, 3] -> float [F, 2]; NaN where no square is seen.

    Each pixel weighs by how far its colour is from the background beyond a margin (the largest channel difference
    minus 30 of 255), and the centre is the weighted mean of the pixel centres: a blurred or faded square decoded by
    a VAE still has its centre found. A frame whose weights add up to less than a fifth of a clean square's has none.
    """
    diff = np.abs(frames.astype(np.int16) - np.array(BACKGROUND, dtype=np.int16)).max(axis=-1)  # [F, H, W]
    weight = np.clip(diff.astype(np.float64) - 30.0, 0.0, None)  # [F, H, W]
    ys, xs = np.mgrid[0 : frames.shape[1], 0 : frames.shape[2]]  # [H, W] each
    total = weight.sum(axis=(1, 2))  # [F]
    seen = total >= 0.2 * SIDE * SIDE * (215 - 30)  # 215: a saturated channel's distance from the background
    with np.errstate(invalid="ignore", divide="ignore"):
        cx = (weight * (xs + 0.5)).sum(axis=(1, 2)) / total  # [F]
        cy = (weight * (ys + 0.5)).sum(axis=(1, 2)) / total  # [F]
    centres = np.stack([cx, cy], axis=1)  # [F, 2]
    centres[~seen] = np.nan
    return centres


def make_world_archive(
    out_dir: Path,
    *,
    clips: int,
    frames: int,
    seed: int = 0,
    audio: bool = False,
    closings: int = 1,
    closing_frames: int = 16,
) -> tuple[Path, list[Path]]:
    """`dataset.zip` (world clips from random states, each with a caption naming its colour) and `closing-<i>.mp4`
    (held-out closing clips from another draw, each with its caption in `closing-<i>.txt`, as a user would describe
    the clip they extend); returns the zip and the closing clips."""
    import zipfile

    rng = random.Random(seed)
    src = out_dir / "src"
    zip_path = out_dir / "dataset.zip"
    out_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w") as zf:
        for i in range(clips):
            first = random_square(rng)
            clip = write_clip(src / f"world_{i:03d}.mp4", states(first, frames), audio=audio)
            zf.write(clip, f"clips/{clip.name}")
            zf.writestr(f"clips/world_{i:03d}.txt", caption(first.colour))
    held_out = random.Random(seed + 10_000)
    paths = []
    for i in range(closings):
        first = random_square(held_out)
        paths.append(write_clip(out_dir / f"closing-{i}.mp4", states(first, closing_frames), audio=audio))
        (out_dir / f"closing-{i}.txt").write_text(caption(first.colour))
    return zip_path, paths


def caption(colour: str) -> str:
    return f"a {colour} square bounces"
