"""The `tiny` preset: LTX-2.3's real diffusers classes and interfaces at toy widths, with seeded random weights.

What is kept from 2.3 (so that every code path is the production one): 128 video latent channels with 32x/8x
compression set explicitly, a causal encoder and non-causal decoder, audio latents of 8 channels x 16 mel bins (128 per
token, `base_channels=128` because the latent statistics are sized by it), per-modality text projections with bias
feeding gated connectors with 128 learnable registers, gated attention, cross-attention AdaLN, split RoPE,
`perturbed_attn=True` (STG acts), a vocoder with bandwidth extension, a Gemma 3 text encoder and a tokenizer trained
here. What shrinks: widths, depths, the vocabulary and the prompt length (128 tokens instead of 1024; still a multiple
of the registers). The preset is written once in diffusers layout and then loaded like real weights.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

TINY_VERSION = 1  # bump when the preset's shape changes: a new cache directory is built
TEXT_LENGTH = 128
WORDS = (  # the tokenizer's training corpus: words test captions use
    "a",
    "the",
    "and",
    "of",
    "in",
    "on",
    "at",
    "with",
    "to",
    "from",
    "over",
    "under",
    "into",
    "near",
    "behind",
    "while",
    "as",
    "is",
    "are",
    "walks",
    "runs",
    "jumps",
    "turns",
    "looks",
    "camera",
    "pans",
    "tilts",
    "zooms",
    "slowly",
    "quickly",
    "left",
    "right",
    "up",
    "down",
    "close",
    "wide",
    "shot",
    "scene",
    "video",
    "frame",
    "light",
    "dark",
    "sunset",
    "sunrise",
    "night",
    "day",
    "city",
    "street",
    "beach",
    "forest",
    "river",
    "sea",
    "sky",
    "cloud",
    "rain",
    "snow",
    "car",
    "bird",
    "dog",
    "cat",
    "man",
    "woman",
    "child",
    "person",
    "people",
    "hand",
    "face",
    "door",
    "window",
    "room",
    "house",
    "road",
    "tree",
    "water",
    "fire",
    "red",
    "blue",
    "green",
    "white",
    "black",
    "small",
    "large",
    "old",
    "young",
    "sks",
    "ohwx",
    "style",
    "extend",
    "suffix",
    "lead",
    "in",
    "opening",
    "closing",
    "moment",
    "music",
    "voice",
    "sound",
    "noise",
    "quiet",
    "loud",
)

VIDEO_VAE = dict(
    block_out_channels=(8, 16, 32, 64),
    decoder_block_out_channels=(8, 16, 32),
    layers_per_block=(1, 1, 1, 1, 1),
    decoder_layers_per_block=(1, 1, 1, 1),
    spatio_temporal_scaling=(True, True, True, True),
    decoder_spatio_temporal_scaling=(True, True, True),
    decoder_inject_noise=(False, False, False, False),
    upsample_residual=(True, True, True),
    upsample_factor=(2, 2, 2),
    # diffusers derives the ratios as patch_size * 2**sum(scaling), ignoring the downsample type: state them.
    spatial_compression_ratio=32,
    temporal_compression_ratio=8,
    decoder_causal=False,
)
AUDIO_VAE = dict(base_channels=128, ch_mult=(1, 1, 1), num_res_blocks=1, latent_channels=8, mel_bins=64)
VOCODER = dict(hidden_channels=64, bwe_hidden_channels=32)
TEXT = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=1,
    head_dim=16,
    max_position_embeddings=256,
    sliding_window=64,
)
TRANSFORMER = dict(
    num_attention_heads=2,
    attention_head_dim=16,
    cross_attention_dim=32,
    audio_num_attention_heads=2,
    audio_attention_head_dim=8,
    audio_cross_attention_dim=16,
    num_layers=2,
    caption_channels=32,
    gated_attn=True,
    cross_attn_mod=True,
    audio_gated_attn=True,
    audio_cross_attn_mod=True,
    rope_type="split",
    use_prompt_embeddings=False,
    perturbed_attn=True,
)
CONNECTORS = dict(
    caption_channels=32,
    text_proj_in_factor=3,  # Gemma layers + 1 (embeddings)
    video_connector_num_attention_heads=2,
    video_connector_attention_head_dim=16,
    video_connector_num_layers=1,
    audio_connector_num_attention_heads=2,
    audio_connector_attention_head_dim=8,
    audio_connector_num_layers=1,
    video_gated_attn=True,
    audio_gated_attn=True,
    rope_type="split",
    per_modality_projections=True,
    video_hidden_dim=32,
    audio_hidden_dim=16,
    proj_bias=True,
)
# The 2.3 schedule: shift 0.95 at 1024 tokens rising to 2.05 at 4096, stretched to a terminal sigma of 0.1.
SCHEDULER = dict(
    use_dynamic_shifting=True,
    base_shift=0.95,
    max_shift=2.05,
    base_image_seq_len=1024,
    max_image_seq_len=4096,
    shift_terminal=0.1,
)


def tiny_dir(models_root: Path, seed: int) -> Path:
    return models_root / f"tiny-v{TINY_VERSION}-seed{seed}"


def ensure_tiny(models_root: Path, seed: int = 0) -> Path:
    """The tiny preset's directory, built on first use."""
    return build_once(tiny_dir(models_root, seed), lambda out: build_tiny(out, seed))


def build_once(final: Path, build: Callable[[Path], None]) -> Path:
    """`final` as `build` writes it, on first use: into a temporary directory beside it, then renamed into place, so
    a reader never sees half a preset and two processes building at once both end with one whole copy."""
    if (final / "model_index.json").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        build(tmp)
        try:
            os.replace(tmp, final)
        except OSError:  # another process finished first; its copy is identical
            if not (final / "model_index.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


@dataclass(frozen=True)
class PresetShapes:
    """The component configs of a preset built in code (tiny, toy) and the word list its tokenizer is trained on."""

    video_vae: dict
    transformer: dict
    connectors: dict
    words: tuple[str, ...]
    audio_vae: dict = field(default_factory=lambda: AUDIO_VAE)
    vocoder: dict = field(default_factory=lambda: VOCODER)
    text: dict = field(default_factory=lambda: TEXT)


TINY_SHAPES = PresetShapes(video_vae=VIDEO_VAE, transformer=TRANSFORMER, connectors=CONNECTORS, words=WORDS)


def build_tiny(out_dir: Path, seed: int = 0) -> None:
    """Write the tiny preset to `out_dir` in diffusers layout. The same seed gives byte-identical files."""
    build_preset(out_dir, seed, TINY_SHAPES)


def build_preset(
    out_dir: Path, seed: int, shapes: PresetShapes, trained: dict[str, dict[str, torch.Tensor]] | None = None
) -> None:
    """Build every component from `shapes` with seeded random weights, load the `trained` state dicts over the parts
    they name ("vae", "transformer"), and write the whole in diffusers layout."""
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2Pipeline,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2 import LTX2TextConnectors, LTX2VocoderWithBWE

    tokenizer = _train_tokenizer(shapes.words)

    def seeded(offset: int) -> torch.Generator:
        torch.manual_seed(seed * 1000 + offset)  # module initialisers draw from the global generator
        return torch.Generator().manual_seed(seed * 1000 + offset + 500)

    g = seeded(1)
    vae = AutoencoderKLLTX2Video(**shapes.video_vae)
    _random_latent_stats(vae, 128, g)
    g = seeded(2)
    audio_vae = AutoencoderKLLTX2Audio(**shapes.audio_vae)
    _random_latent_stats(audio_vae, 128, g)
    seeded(3)
    vocoder = LTX2VocoderWithBWE(**shapes.vocoder)
    seeded(4)
    text_encoder = _gemma(len(tokenizer), shapes.text)
    seeded(5)
    connectors = LTX2TextConnectors(**shapes.connectors)
    seeded(6)
    transformer = LTX2VideoTransformer3DModel(**shapes.transformer)
    for name, module in (("vae", vae), ("transformer", transformer)):
        if trained and name in trained:
            module.load_state_dict(trained[name], strict=True)
    pipe = LTX2Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**SCHEDULER),
        vae=vae,
        audio_vae=audio_vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        connectors=connectors,
        transformer=transformer,
        vocoder=vocoder,
    )
    pipe.save_pretrained(out_dir, safe_serialization=True)


def tiny_video_vae(seed: int = 0, *, timestep_conditioning: bool = False) -> torch.nn.Module:
    """The preset's video VAE on its own, seeded. `timestep_conditioning=True` gives its decoder the timestep
    embedding some LTX VAE checkpoints have (2.3's has none), so the decode path for those can be tested."""
    from diffusers import AutoencoderKLLTX2Video

    torch.manual_seed(seed)  # module initialisers draw from the global generator
    vae = AutoencoderKLLTX2Video(**VIDEO_VAE, timestep_conditioning=timestep_conditioning)
    _random_latent_stats(vae, 128, torch.Generator().manual_seed(seed + 500))
    return vae.requires_grad_(False).eval()


def _random_latent_stats(vae: torch.nn.Module, channels: int, g: torch.Generator) -> None:
    """Non-trivial per-channel statistics, so that a missing normalisation shows up in tests."""
    vae.latents_mean.copy_(torch.randn(channels, generator=g) * 0.1)
    vae.latents_std.copy_(torch.rand(channels, generator=g) * 0.5 + 0.75)


def _gemma(vocab_size: int, text: dict = TEXT) -> torch.nn.Module:
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3TextConfig, SiglipVisionConfig

    vision = SiglipVisionConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=28, patch_size=14
    )
    config = Gemma3Config(
        text_config=Gemma3TextConfig(vocab_size=vocab_size, **text), vision_config=vision, mm_tokens_per_image=4
    )
    return Gemma3ForConditionalGeneration(config).eval()


def _train_tokenizer(words: tuple[str, ...] = WORDS):
    """A word-level tokenizer trained on a fixed word list: BOS prepended, left padding, pad token set."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = ["<pad>", "<eos>", "<bos>", "<unk>"]
    tok.train_from_iterator([" ".join(words)], trainers.WordLevelTrainer(special_tokens=specials, show_progress=False))
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 2)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        padding_side="left",
        model_max_length=TEXT_LENGTH,
    )
