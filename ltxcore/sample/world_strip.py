"""A picture of a toy-world extension: the generated lead-in above the true past, frame by frame, into the suffix.

Written by the demo beside its outputs (and shown in the docs), so the learning can be judged at a glance: where the
rows agree, the LoRA led into the ending the way the world did.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ltxcore.media import world
from ltxcore.model.encoder_inputs import read_video_frames
from ltxcore.sample.reel import ReelEntry, ValidationReel
from ltxcore.sample.world_metric import true_lead_in

GAP = 4


def lead_in_strip(entry: ReelEntry, conditioning_frames: int, out: Path, columns: int = 8) -> Path:
    """Write a PNG: `columns` frames spread over the lead-in plus the first suffix frame; top row generated, bottom
    row the truth. The entry must carry a world metric (a closing clip of the toy world)."""
    assert entry.world is not None, "a strip needs a closing clip of the toy world"
    frames = read_video_frames(entry.video_path)  # [F, 128, 128, 3]
    lead_in = frames.shape[0] - conditioning_frames
    w = entry.world
    first = world.Square(w.colour, *(round(c - world.SIDE / 2) for c in w.first_suffix_centre), *w.velocity)
    truth = np.concatenate([true_lead_in(first, lead_in), frames[lead_in : lead_in + 1]])  # [lead_in + 1, ...]
    picks = np.linspace(0, lead_in, columns).round().astype(int)  # the last pick is the first suffix frame
    font = ImageFont.load_default(size=12)
    label_w, size = 86, world.SIZE
    canvas = Image.new("RGB", (label_w + columns * (size + GAP), 2 * (size + GAP) + 18), (16, 16, 24))
    draw = ImageDraw.Draw(canvas)
    for row, (name, source) in enumerate((("generated", frames), ("true past", truth))):
        top = 18 + row * (size + GAP)
        draw.text((4, top + size // 2 - 6), name, fill=(235, 235, 235), font=font)
        for col, t in enumerate(picks):
            canvas.paste(Image.fromarray(source[t]), (label_w + col * (size + GAP), top))
    for col, t in enumerate(picks):
        label = "suffix" if t == lead_in else f"frame {t + 1}"
        draw.text((label_w + col * (size + GAP) + 4, 2), label, fill=(200, 200, 200), font=font)
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out)
    return out


def learning_table(reel: ValidationReel) -> str:
    """The world metric as plain text for a terminal: one line per closing clip and row."""
    lines = ["lead-in error against the true past (px; base = no LoRA, floor = the truth through the VAE):"]
    for e in reel.entries:
        if e.world is None:
            continue
        cells = "  ".join(f"{r.label} {r.mean_error_px:5.1f}" for r in e.world.rows)
        seam = e.world.row("lora") or e.world.rows[0]
        lines.append(
            f"  clip {e.index}: {cells}   seam jump {seam.seam_jump_px:.1f} px (true step {seam.true_step_px:.1f})"
        )
    return "\n".join(lines)
