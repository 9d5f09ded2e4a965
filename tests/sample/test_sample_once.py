"""Inference does each piece of work once and holds only what it uses: the LoRA merged into the weights (no adapter
layers left, the same output as the adapter), the text encoder released once the prompts are encoded, and a training
run's previews fitting, encoding and decoding each validation clip's closing frames at the first preview only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from peft.tuners.lora import LoraLayer

from ltxcore.manifests import ValidationClip
from ltxcore.media.probe import probe
from ltxcore.media.synth import moving_square_clip
from ltxcore.model.encoder_inputs import read_video_frames
from ltxcore.model.loader import Components, load_components
from ltxcore.model.lora import attach_lora, load_lora, merge_lora, save_lora
from ltxcore.model.spec import ModelSpec
from ltxcore.sample.extend import ExtendSettings, encode_text, extend_in_memory, sample_parts
from ltxcore.sample.reel import render_validation

FPS = 24
SETTINGS = ExtendSettings(num_frames=17, fps=FPS, width=64, height=64, conditioning_frames=8, steps=2, seed=3)
TEXT = {"text_encoder", "tokenizer", "connectors"}


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    torch.set_num_threads(2)
    return ModelSpec.parse("tiny")


@pytest.fixture(scope="module")
def lora(spec: ModelSpec, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rank-4 LoRA whose B matrices are random: it changes the model's output noticeably."""
    trained = load_components(spec, {"transformer"}).transformer
    attach_lora(trained, rank=4)
    g = torch.Generator().manual_seed(5)
    for name, p in trained.named_parameters():
        if "lora_B" in name:
            p.data = torch.randn(p.shape, generator=g) * 0.5
    return save_lora(trained, tmp_path_factory.mktemp("lora") / "lora.safetensors")


def clip(path: Path, index: int, colour: str) -> ValidationClip:
    moving_square_clip(
        path, seconds=1.0, fps=FPS, size=(80, 64), colour=colour, tone_hz=500, start=(4, 20), velocity=(30, 0)
    )
    return ValidationClip(
        index=index, url=f"file://{path}", path=str(path), prompt=f"a {colour} square", probe=probe(path)
    )


@pytest.fixture()
def vae_calls(request: pytest.FixtureRequest) -> Iterator[dict[str, int]]:
    """Counts of the VAE encoder's and decoder's forward passes on the components under test."""
    components: Components = request.getfixturevalue("preview_components")
    calls = {"encode": 0, "decode": 0}
    hooks = [
        components.vae.encoder.register_forward_hook(lambda *_: calls.__setitem__("encode", calls["encode"] + 1)),
        components.vae.decoder.register_forward_hook(lambda *_: calls.__setitem__("decode", calls["decode"] + 1)),
    ]
    yield calls
    for hook in hooks:
        hook.remove()


@pytest.fixture()
def preview_components(spec: ModelSpec) -> Components:
    return load_components(spec, sample_parts(with_audio=False))


def test_a_merged_lora_leaves_plain_layers_and_gives_the_adapters_output(spec: ModelSpec, lora: Path) -> None:
    adapted = load_components(spec, {"transformer"}).transformer
    load_lora(adapted, lora)
    merged = load_components(spec, {"transformer"}).transformer
    base = load_components(spec, {"transformer"}).transformer
    adapter_layers = sum(isinstance(m, LoraLayer) for m in adapted.modules())
    assert merge_lora(merged, lora) == adapter_layers > 0
    assert not any(isinstance(m, LoraLayer) for m in merged.modules())
    assert sum(p.numel() for p in merged.parameters()) == sum(p.numel() for p in base.parameters())
    probe_layer = "transformer_blocks.0.attn1.to_q"
    w_base = base.get_submodule(probe_layer).weight
    delta = (merged.get_submodule(probe_layer).weight - w_base).abs().max().item()
    assert delta > 1e-3  # B A really went into the weights
    with pytest.raises(ValueError, match="already merged"):
        merge_lora(merged, lora)  # stacking the same LoRA twice would double it


def test_extend_with_a_merged_lora_matches_the_adapter_and_releases_the_text_encoder(
    spec: ModelSpec, lora: Path, tmp_path: Path
) -> None:
    closing = clip(tmp_path / "c.mp4", 0, "white").path
    settings = SETTINGS.model_copy(update={"cfg": 1.0, "stg_scale": 0.0})
    merged = load_components(spec, sample_parts(with_audio=False))
    out = extend_in_memory(merged, Path(closing), "a white square", settings, lora_path=lora)
    assert not TEXT & set(merged.loaded()), merged.loaded()  # released once the prompts were encoded
    assert not any(isinstance(m, LoraLayer) for m in merged.transformer.modules())

    adapter = load_components(spec, sample_parts(with_audio=False))
    text = encode_text(adapter, "a white square", settings.negative_prompt)
    load_lora(adapter.transformer, lora)  # the adapter path: peft layers in the forward
    ref = extend_in_memory(adapter, Path(closing), "a white square", settings, text=text)
    assert set(adapter.loaded()) >= TEXT  # given its text, extend leaves the caller's parts alone
    base = extend_in_memory(
        load_components(spec, sample_parts(with_audio=False)), Path(closing), "a white square", settings
    )
    lead = slice(0, settings.lead_in_frames)
    merge_gap = np.abs(out.frames[lead].astype(int) - ref.frames[lead].astype(int)).max()
    lora_effect = np.abs(ref.frames[lead].astype(int) - base.frames[lead].astype(int)).max()
    assert merge_gap <= 2 < 10 < lora_effect, (merge_gap, lora_effect)  # fp32 rounding of W + BA only
    assert np.array_equal(out.frames[-8:], ref.frames[-8:])


def test_previews_prepare_each_closing_clip_once_and_render_the_same_reel(
    spec: ModelSpec, preview_components: Components, vae_calls: dict[str, int], tmp_path: Path
) -> None:
    clips = [clip(tmp_path / "a.mp4", 0, "red"), clip(tmp_path / "b.mp4", 1, "cyan")]
    closings: dict = {}
    first = render_validation(
        clips, None, SETTINGS, tmp_path / "p", components=preview_components, step_label="step-1", closings=closings
    )
    assert vae_calls == {"encode": 2, "decode": 4}  # per clip: its closing encoded, closing and lead-in decoded
    assert sorted(closings) == [0, 1] and not TEXT & set(preview_components.loaded())
    second = render_validation(
        clips, None, SETTINGS, tmp_path / "p", components=preview_components, step_label="step-2", closings=closings
    )
    assert vae_calls == {"encode": 2, "decode": 6}  # the second preview decodes the two lead-ins only
    fresh = render_validation(clips, None, SETTINGS, tmp_path / "fresh", spec=spec, step_label="step-2")
    for a, b, c in zip(first.entries, second.entries, fresh.entries, strict=True):
        frames = read_video_frames(b.video_path)
        assert np.array_equal(frames, read_video_frames(c.video_path))  # the cached closing changes nothing
        assert np.array_equal(frames, read_video_frames(a.video_path))  # the same model: the same extension
        assert b.seam == c.seam
