"""Spatial VAE tiling above a frame area, so encoding or decoding a large clip stays within a bounded memory.

Frames up to MAX_SIDE squared in area (the medium 1:1 bucket, 768x768) are encoded and decoded whole, exactly as before.
Larger frames (the high 1:1 bucket, 960x960, or any size `extend` is asked for) go through diffusers' own tiled
encoder and decoder: the frame is cut into the fewest tiles no side of which exceeds 768 + 64 px, neighbours overlap
by 64 px (2 latent cells) and the overlaps are blended, so the peak stays near that of a 768x768 clip.

Only space is tiled, never time: every tile sees all frames, so the causal encoder gives the closing frames the same
temporal context as an untiled encode (the suffix is cut from the whole clip's encoding, ltxcore.model.encode), and
clips are at most 121 frames, so time needs no bound.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

MAX_SIDE = 768  # frames up to MAX_SIDE x MAX_SIDE in area are encoded whole
OVERLAP = 64  # pixels blended between neighbouring tiles: 2 latent cells at 32x spatial compression
ALIGN = 32  # tiles start on latent-cell boundaries


@dataclass(frozen=True)
class TilePlan:
    """diffusers' tiling settings for one frame size, in pixels: a tile starts every stride, and a side whose tile
    equals its stride is not cut."""

    tile_height: int
    tile_width: int
    stride_height: int
    stride_width: int

    def tiles(self, height: int, width: int) -> int:
        """Tiles diffusers encodes (and decodes) for a height x width clip."""
        return math.ceil(height / self.stride_height) * math.ceil(width / self.stride_width)


def _side(side: int, max_side: int) -> tuple[int, int]:
    """(tile, stride) along one side: whole if it fits `max_side`, else the fewest tiles sharing OVERLAP px."""
    pieces = math.ceil(side / max_side)
    if pieces == 1:
        return side, side
    stride = math.ceil(side / pieces / ALIGN) * ALIGN  # diffusers starts a tile every stride px: `pieces` starts
    return stride + OVERLAP, stride


def tile_plan(height: int, width: int, max_side: int = MAX_SIDE) -> TilePlan | None:
    """How a height x width frame is tiled, or None when it is encoded whole (area <= max_side squared)."""
    if height * width <= max_side * max_side:
        return None
    tile_h, stride_h = _side(height, max_side)
    tile_w, stride_w = _side(width, max_side)
    return TilePlan(tile_height=tile_h, tile_width=tile_w, stride_height=stride_h, stride_width=stride_w)


@contextmanager
def vae_tiling(vae: Any, height: int, width: int, max_side: int = MAX_SIDE) -> Iterator[TilePlan | None]:
    """Within the block, `vae` (an AutoencoderKLLTX2Video) tiles a height x width clip per `tile_plan`; its own
    tiling settings are put back after, so a VAE shared between sizes never keeps another size's tiles."""
    plan = tile_plan(height, width, max_side)
    names = (
        "use_tiling",
        "tile_sample_min_height",
        "tile_sample_min_width",
        "tile_sample_stride_height",
        "tile_sample_stride_width",
    )
    saved = {name: getattr(vae, name) for name in names}
    if plan is not None:
        vae.enable_tiling(
            tile_sample_min_height=plan.tile_height,
            tile_sample_min_width=plan.tile_width,
            tile_sample_stride_height=plan.stride_height,
            tile_sample_stride_width=plan.stride_width,
        )
    else:
        vae.use_tiling = False
    try:
        yield plan
    finally:
        for name, value in saved.items():
            setattr(vae, name, value)
