"""The model spec and the one loader: tiny preset, local directory and s3:// prefix take the same path."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from ltxcore.model.loader import PARTS, load_components
from ltxcore.model.spec import ModelSpec
from ltxcore.model.tiny import build_tiny
from ltxcore.store.fs import filesystem


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The tiny preset, built once per test session into the session's cache directory."""
    yield ModelSpec.parse("tiny").local_dir()


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_tiny_preset_is_deterministic_per_seed(tmp_path: Path, tiny_root: Path) -> None:
    build_tiny(tmp_path / "again", seed=0)
    build_tiny(tmp_path / "other", seed=1)
    same, other = _digests(tmp_path / "again"), _digests(tmp_path / "other")
    assert same == _digests(tiny_root)
    assert len(same) >= 15  # every component, configs and weights
    weights = "transformer/diffusion_pytorch_model.safetensors"
    assert other[weights] != same[weights]
    assert other["transformer/config.json"] == same["transformer/config.json"]


def test_tiny_preset_keeps_the_23_interfaces(tiny_root: Path) -> None:
    c = load_components(ModelSpec.parse(str(tiny_root)), set(PARTS))
    t = c.transformer.config
    assert (t.in_channels, t.audio_in_channels, t.gated_attn, t.cross_attn_mod, t.perturbed_attn) == (
        128,
        128,
        True,
        True,
        True,
    )
    assert (c.vae.spatial_compression_ratio, c.vae.temporal_compression_ratio) == (32, 8)
    vae = c.vae.config
    assert (vae.latent_channels, vae.encoder_causal, vae.decoder_causal) == (128, True, False)
    assert (c.audio_vae.config.latent_channels, c.audio_vae.latents_mean.numel()) == (8, 128)
    assert c.connectors.config.per_modality_projections and c.connectors.config.proj_bias
    assert c.connectors.config.video_hidden_dim == t.cross_attention_dim
    assert type(c.vocoder).__name__ == "LTX2VocoderWithBWE"
    tokens = c.tokenizer(["a cat"], padding="max_length", max_length=8).input_ids[0]
    assert tokens[:5] == [c.tokenizer.pad_token_id] * 5 and tokens[5] == c.tokenizer.bos_token_id  # left pad, BOS
    assert c.vae.latents_std.std() > 0  # non-trivial statistics, so a missing normalisation shows


def test_tiny_and_its_directory_are_the_same_model(tiny_root: Path) -> None:
    tiny, local = ModelSpec.parse("tiny"), ModelSpec.parse(str(tiny_root))
    assert tiny.local_dir() == local.local_dir() == tiny_root
    assert tiny.fingerprint() == local.fingerprint()
    assert len(tiny.fingerprint()) == 24


def test_loader_builds_only_what_is_asked_and_only_when_used(tiny_root: Path) -> None:
    c = load_components(ModelSpec.parse("tiny"), {"vae", "audio_vae"})
    assert c.loaded() == []
    assert c.vae.latents_mean.shape == (128,)
    assert c.loaded() == ["vae"]
    with pytest.raises(KeyError):
        _ = c.transformer
    c.release("vae")
    assert c.loaded() == []
    with pytest.raises(ValueError):
        load_components(ModelSpec.parse("tiny"), {"unet"})


def test_bad_specs_are_refused(tmp_path: Path) -> None:
    for text in ("", "s3://", "https://example.com/model", str(tmp_path)):
        with pytest.raises(ValueError):
            ModelSpec.parse(text)


def test_s3_prefix_is_synced_and_loaded_like_a_directory(tiny_root: Path, s3_bucket: str) -> None:
    fs, bucket = filesystem(s3_bucket)
    for path in tiny_root.rglob("*"):
        if path.is_file():
            fs.put_file(str(path), f"{bucket}/ltx/{path.relative_to(tiny_root)}")
    spec = ModelSpec.parse(f"{s3_bucket}/ltx/")
    assert spec.fingerprint() == ModelSpec.parse(str(tiny_root)).fingerprint()
    remote = load_components(spec, {"transformer"})
    assert remote.root != tiny_root and (remote.root / "model_index.json").is_file()
    local = load_components(ModelSpec.parse("tiny"), {"transformer"})
    for (name, a), (_, b) in zip(
        remote.transformer.state_dict().items(), local.transformer.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    marker = remote.root / ".synced.json"
    before = marker.stat().st_mtime_ns
    assert spec.local_dir() == remote.root and marker.stat().st_mtime_ns == before  # second sync copies nothing
