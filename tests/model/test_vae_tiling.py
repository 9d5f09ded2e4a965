"""VAE tiling above a frame area: buckets up to 768x768 are encoded whole (bitwise as diffusers does untiled), larger
frames go through diffusers' tiled encoder and decoder in the fewest tiles, close to the untiled result, and the
VAE's own settings are put back."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from ltxcore import geometry
from ltxcore.model.encode import encode_video
from ltxcore.model.loader import Components, load_components
from ltxcore.model.spec import ModelSpec
from ltxcore.model.vae_tiling import TilePlan, tile_plan
from ltxcore.sample.decode import decode_video

SMALL_SIDE = 128  # the tests' threshold: a 256x256 frame is tiled like 960x960 is at the real 768


@pytest.fixture(scope="module")
def components() -> Components:
    torch.set_num_threads(2)
    return load_components(ModelSpec.parse("tiny"), {"vae"})


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    """9 frames of 256x256 smooth colour fields drifting right: uint8 [9, 256, 256, 3]."""
    y, x = np.mgrid[0:256, 0:256].astype(np.float32) / 255
    out = [np.stack([x + t / 20, y, 1 - (x + y) / 2], axis=-1) for t in range(9)]
    return (np.clip(np.stack(out), 0, 1) * 255).astype(np.uint8)


@pytest.fixture()
def encoder_calls(components: Components) -> Iterator[list[tuple[int, ...]]]:
    """The shapes the VAE's encoder and decoder networks are called with (diffusers calls them once per tile)."""
    calls: list[tuple[int, ...]] = []
    hooks = [
        module.register_forward_hook(lambda _m, args, _o: calls.append(tuple(args[0].shape)))
        for module in (components.vae.encoder, components.vae.decoder)
    ]
    yield calls
    for hook in hooks:
        hook.remove()


def test_the_buckets_tile_only_above_768x768_and_960x960_takes_four_tiles() -> None:
    for resolution, aspect in geometry.BUCKETS:
        width, height = geometry.BUCKETS[(resolution, aspect)]
        plan = tile_plan(height, width)
        assert (plan is not None) == ((resolution, aspect) == ("high", "1:1")), (resolution, aspect, plan)
    plan = tile_plan(960, 960)
    assert plan == TilePlan(tile_height=544, tile_width=544, stride_height=480, stride_width=480)
    assert plan.tiles(960, 960) == 4  # tiles [0, 544) and [480, 960) per side: 64 px shared
    wide = tile_plan(1088, 1920)
    assert wide is not None and wide.tiles(1088, 1920) == 6 and max(wide.tile_height, wide.tile_width) <= 768 + 64


def test_a_frame_within_the_threshold_is_encoded_whole_exactly_as_diffusers_does(
    components: Components, frames: np.ndarray, encoder_calls: list
) -> None:
    whole = load_components(ModelSpec.parse("tiny"), {"vae"}, vae_max_side=256)
    latents = encode_video(whole, frames)  # [128, 2, 8, 8]
    assert latents.shape == (128, 2, 8, 8)
    vae = whole.vae
    pixels = torch.from_numpy(frames).permute(3, 0, 1, 2)[None].float() / 127.5 - 1  # [1, 3, 9, 256, 256]
    plain = vae.encode(pixels).latent_dist.mode()  # diffusers, tiling never enabled
    mean = vae.latents_mean.view(1, -1, 1, 1, 1)
    std = vae.latents_std.view(1, -1, 1, 1, 1)
    assert torch.equal(latents, ((plain - mean) * vae.config.scaling_factor / std)[0])


def test_a_larger_frame_is_encoded_in_four_tiles_close_to_the_untiled_latents(
    components: Components, frames: np.ndarray, encoder_calls: list
) -> None:
    tiled_components = load_components(ModelSpec.parse("tiny"), {"vae"}, vae_max_side=SMALL_SIDE)
    tiled_components.provide("vae", components.vae)  # the same weights, hooked
    tiled = encode_video(tiled_components, frames)  # [128, 2, 8, 8]
    assert [c[-2:] for c in encoder_calls] == [(192, 192), (192, 128), (128, 192), (128, 128)]
    assert components.vae.use_tiling is False  # put back: the next untiled encode is whole again
    encoder_calls.clear()
    whole = encode_video(components, frames)  # default threshold 768: whole
    assert [c[-2:] for c in encoder_calls] == [(256, 256)]
    assert tiled.shape == whole.shape == (128, 2, 8, 8)
    # Outside the 2-cell blend band the tiles see the same pixels: the latents there are near the untiled ones.
    corr = torch.corrcoef(torch.stack([tiled.flatten(), whole.flatten()]))[0, 1].item()
    assert corr > 0.9, corr
    assert not torch.equal(tiled, whole)  # it really was tiled


def test_a_larger_frame_is_decoded_in_tiles_with_the_same_frames_and_size(
    components: Components, frames: np.ndarray, encoder_calls: list
) -> None:
    latents = encode_video(components, frames)[None]  # [1, 128, 2, 8, 8]
    encoder_calls.clear()
    tiled_components = load_components(ModelSpec.parse("tiny"), {"vae"}, vae_max_side=SMALL_SIDE)
    tiled_components.provide("vae", components.vae)
    tiled = decode_video(tiled_components, latents)  # [9, 256, 256, 3]
    assert [c[-2:] for c in encoder_calls] == [(6, 6), (6, 4), (4, 6), (4, 4)]  # latent tiles: 192 px = 6 cells
    encoder_calls.clear()
    whole = decode_video(components, latents)
    assert [c[-2:] for c in encoder_calls] == [(8, 8)]
    assert tiled.shape == whole.shape == (9, 256, 256, 3)
    # Far from the seams (rows and columns 128..192 are blended) the tiled decode is the untiled one; across the
    # frame it stays far closer than two unrelated pictures from this decoder (its left and right halves).
    diff = np.abs(tiled.astype(int) - whole.astype(int))  # [9, 256, 256, 3]
    unrelated = np.abs(whole[:, :, :128].astype(int) - whole[:, :, 128:].astype(int)).mean()
    assert diff[:, :32, :32].mean() < 1.5 and diff.mean() < 0.5 * unrelated, (diff[:, :32, :32].mean(), unrelated)
    assert np.corrcoef(tiled.flatten(), whole.flatten())[0, 1] > 0.75
