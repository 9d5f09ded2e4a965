"""The toy preset's shipped video VAE reconstructs the toy world: the learning metric's floor is a few px.

The floor row of every toy reel is the true clip through this VAE, so a VAE that loses the square (as one trained only
on 9-frame clips did: its non-causal decoder lost the square in every latent frame followed by another, 69 of 198
frames on 33-frame clips) would make every learning figure meaningless. Decoded through the product's own encode and
decode, on held-out 33-frame clips of the world at the fastest speeds.
"""

from __future__ import annotations

import numpy as np
import pytest

from ltxcore.media import world
from ltxcore.model.encode import encode_video
from ltxcore.model.loader import load_components
from ltxcore.model.spec import ModelSpec
from ltxcore.sample.decode import decode_video


@pytest.fixture(scope="module")
def toy_vae():
    return load_components(ModelSpec.parse("toy"), {"vae"})


@pytest.mark.parametrize(
    "square",
    [
        world.Square("green", 20, 30, 4, -3),
        world.Square("magenta", 100, 100, -4, -4),
        world.Square("cyan", 56, 8, 1, 4),
    ],
    ids=["green-bounces-off-the-top", "magenta-fastest-diagonal", "cyan-slow-x"],
)
def test_the_shipped_vae_keeps_the_square_within_a_few_px_in_every_frame(toy_vae, square):
    truth = world.render_frames(world.states(square, 33))  # [33, 128, 128, 3]
    decoded = decode_video(toy_vae, encode_video(toy_vae, truth)[None])  # [33, 128, 128, 3]
    seen, expected = world.track(decoded), world.track(truth)  # [33, 2] each
    error = np.linalg.norm(seen - expected, axis=1)  # [33]; NaN where the square is lost
    assert not np.isnan(error).any(), f"square lost in frames {np.flatnonzero(np.isnan(error)).tolist()}"
    assert error.mean() < 5.0 and error.max() < world.SIDE, error.round(1).tolist()  # never off by a whole side
    mse = np.square(decoded.astype(np.float64) - truth).mean() / 255**2
    assert 10 * np.log10(1 / mse) > 20.0  # PSNR in dB (25.5 on average over held-out clips; fast ones lower)
