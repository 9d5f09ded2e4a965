"""The learning metric on the toy world: how far the generated lead-in's square is from where it truly was.

A closing clip of the world fixes its past (`ltxcore.media.world`), so a generated lead-in can be scored against the
truth: the square's state in the first closing frame is read off the clip itself (colour, position, and the one
velocity that reproduces the closing frames), the true past is rendered from it, and the square is tracked in the
generated frames. Three rows make the number readable:
- base: the model without the LoRA (what pretraining alone gives),
- lora: the trained LoRA,
- floor: the true clip passed through the VAE (what the decoder alone loses).
Mean position error in px over the lead-in frames (a frame where no square is seen counts MISSING_PX), and the seam:
the jump between the last generated and the first suffix frame, beside the true per-frame motion there.
Clips that are not of the world (any real footage) get no world metric; their seam ratio is what they have.
"""

from __future__ import annotations

import math
from itertools import product

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ltxcore.media import world

MISSING_PX = world.MISSING_PX
_MATCH_PX = 1.5  # the closing frames' centres must follow the inferred state this closely (codec noise is < 1 px)


class WorldRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str = Field(description="base (no LoRA), lora, or floor (the truth through the VAE).")
    mean_error_px: float = Field(description="Mean distance of the square's centre from the truth over the lead-in.")
    missing_frames: int = Field(description="Lead-in frames with no square found (each counted as MISSING_PX).")
    seam_jump_px: float = Field(description="Centre jump from the last generated to the first suffix frame.")
    true_step_px: float = Field(description="The true centre step between those two frames.")


class WorldMetric(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    colour: str
    first_suffix_centre: tuple[float, float]
    velocity: tuple[int, int]
    lead_in_frames: int
    rows: list[WorldRow]

    def row(self, label: str) -> WorldRow | None:
        return next((r for r in self.rows if r.label == label), None)

    def summary(self) -> str:
        """One line for a reel header: 'lead-in error 2.1 px (base 15.3, floor 1.2)'."""
        main = self.row("lora") or self.rows[0]
        others = ", ".join(f"{r.label} {r.mean_error_px:.1f}" for r in self.rows if r is not main)
        return f"lead-in error {main.mean_error_px:.1f} px" + (f" ({others})" if others else "")


def infer_state(closing: np.ndarray) -> world.Square | None:
    """The square's state in the first of the closing frames uint8 [F, 128, 128, 3], or None if they are not the
    world (wrong size, no single square, or motion no allowed velocity explains)."""
    if closing.ndim != 4 or closing.shape[1:3] != (world.SIZE, world.SIZE) or closing.shape[0] < 2:
        return None
    centres = world.track(closing)  # [F, 2]
    if np.isnan(centres).any():
        return None
    colour = _colour(closing[0], centres[0])
    x, y = (round(c - world.SIDE / 2) for c in centres[0])
    if not (0 <= x <= world.SIZE - world.SIDE and 0 <= y <= world.SIZE - world.SIDE):
        return None
    best, best_err = None, math.inf
    for vx, vy in product(range(-world.MAX_SPEED, world.MAX_SPEED + 1), repeat=2):
        if vx == vy == 0:
            continue
        candidate = world.Square(colour, x, y, vx, vy)
        path = np.array([s.centre for s in world.states(candidate, len(centres))])  # [F, 2]
        err = float(np.abs(path - centres).max())
        if err < best_err:
            best, best_err = candidate, err
    return best if best_err <= _MATCH_PX else None


def _colour(frame: np.ndarray, centre: np.ndarray) -> str:
    cx, cy = (int(c) for c in centre)
    r = world.SIDE // 4  # the square's middle, clear of blurred or chroma-bled edges
    mean = frame[max(cy - r, 0) : cy + r, max(cx - r, 0) : cx + r].reshape(-1, 3).mean(axis=0)  # [3]
    return min(world.COLOURS, key=lambda name: float(np.square(np.array(world.COLOURS[name]) - mean).sum()))


def true_lead_in(first: world.Square, lead_in: int) -> np.ndarray:
    """uint8 [lead_in, 128, 128, 3]: the frames before the closing clip's first frame."""
    return world.render_frames(world.past(first, lead_in))


def score(label: str, frames: np.ndarray, lead_in: int, first: world.Square) -> WorldRow:
    """Score the first `lead_in` of `frames` uint8 [F, 128, 128, 3] (lead-in then suffix) against the truth."""
    truth = np.array([s.centre for s in world.past(first, lead_in)])  # [L, 2]
    seen = world.track(frames[: lead_in + 1])  # [L+1, 2]
    dist = np.linalg.norm(seen[:lead_in] - truth, axis=1)  # [L]; NaN where nothing was seen
    missing = np.isnan(dist)
    error = float(np.where(missing, MISSING_PX, dist).mean())
    jump = float(np.linalg.norm(seen[lead_in] - seen[lead_in - 1]))
    return WorldRow(
        label=label,
        mean_error_px=round(error, 3),
        missing_frames=int(missing.sum()),
        seam_jump_px=round(jump, 3) if math.isfinite(jump) else MISSING_PX,
        true_step_px=round(float(np.linalg.norm(np.array(first.centre) - truth[-1])), 3),
    )


def world_metric(first: world.Square, lead_in: int, rows: list[WorldRow]) -> WorldMetric:
    return WorldMetric(
        colour=first.colour,
        first_suffix_centre=first.centre,
        velocity=(first.vx, first.vy),
        lead_in_frames=lead_in,
        rows=rows,
    )
