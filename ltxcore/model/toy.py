"""The `toy` preset: LTX-2.3's diffusers classes sized for a CPU, with a video VAE and a transformer trained on the toy
world (`ltxcore.media.world`), so that learning shows: a LoRA trained by the product leads into a given ending.

Everything but the trained parts is built as the tiny preset builds it (the same seeded builder); the trained video
VAE and transformer weights ship in `toy_weights/` (float16) and are written into a diffusers-layout directory in the
cache on first use, which the one loader then reads like real weights. `ltxcore.train.toy_preset` made them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from ltxcore.model.tiny import CONNECTORS as TINY_CONNECTORS
from ltxcore.model.tiny import TRANSFORMER as TINY_TRANSFORMER
from ltxcore.model.tiny import VIDEO_VAE as TINY_VIDEO_VAE
from ltxcore.model.tiny import WORDS as TINY_WORDS
from ltxcore.model.tiny import PresetShapes, build_once, build_preset

TOY = "toy"
WEIGHTS = Path(__file__).with_name("toy_weights")
PARTS = ("vae", "transformer")  # the trained parts; each ships as toy_weights/<part>.safetensors

# Wider than the tiny VAE and with a resnet in every decoder block: one latent frame holds eight frames of motion, and
# the decoder must draw the square at eight positions from it (a narrower decoder settles for one position per latent
# frame). The encoder's blocks have no resnets: its downsamplers' convolutions are enough for one square.
VIDEO_VAE = dict(
    TINY_VIDEO_VAE,
    block_out_channels=(32, 64, 128, 128),
    decoder_block_out_channels=(32, 64, 128),
    layers_per_block=(0, 0, 0, 0, 1),
    decoder_layers_per_block=(1, 1, 1, 1),
)
# Width 128 (4 heads of 32): at width 64 the transformer modelled the world poorly (two squares, or none) and its loss
# on the lead-in hardly moved given the suffix (0.90 -> 0.83 in 1,500 steps of full training); at 128 the same
# training reaches 0.49 in 400 steps.
TRANSFORMER = dict(
    TINY_TRANSFORMER, num_attention_heads=4, attention_head_dim=32, cross_attention_dim=128, num_layers=4
)
CONNECTORS = dict(
    TINY_CONNECTORS, video_connector_num_attention_heads=4, video_connector_attention_head_dim=32, video_hidden_dim=128
)
WORDS = (*TINY_WORDS, "yellow", "cyan", "magenta", "grey", "square", "bounces", "bouncing", "box", "tone")
SHAPES = PresetShapes(video_vae=VIDEO_VAE, transformer=TRANSFORMER, connectors=CONNECTORS, words=WORDS)


def weights_id(weights: Path = WEIGHTS) -> str:
    """A short hash of the shipped weight files: a new training run gives a new cache directory."""
    h = hashlib.sha256()
    for part in PARTS:
        h.update((weights / f"{part}.safetensors").read_bytes())
    return h.hexdigest()[:12]


def ensure_toy(models_root: Path, weights: Path = WEIGHTS) -> Path:
    """The toy preset's directory, written on first use."""
    return build_once(models_root / f"toy-{weights_id(weights)}", lambda out: build_toy(out, load_trained(weights)))


def load_trained(weights: Path = WEIGHTS) -> dict[str, dict[str, torch.Tensor]]:
    """The shipped state dicts, in float32."""
    from safetensors.torch import load_file

    return {part: {k: v.float() for k, v in load_file(str(weights / f"{part}.safetensors")).items()} for part in PARTS}


def build_toy(out_dir: Path, trained: dict[str, dict[str, torch.Tensor]] | None = None) -> None:
    """Write the toy preset in diffusers layout; parts missing from `trained` keep their seeded random weights (the
    training script builds the directory this way before the transformer is trained)."""
    build_preset(out_dir, 0, SHAPES, trained)
