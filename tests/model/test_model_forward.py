"""The one transformer call and the LoRA file, on the tiny preset; diffusers' own loader reads our LoRA."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import safetensors.torch
import torch

from ltxcore.model.forward import (
    TextBatch,
    VideoGeometry,
    pack_audio,
    pack_video,
    predict_velocity,
    unpack_audio,
    unpack_video,
)
from ltxcore.model.loader import load_components
from ltxcore.model.lora import attach_lora, load_lora, lora_config, lora_targets, save_lora
from ltxcore.model.spec import ModelSpec

GEO = VideoGeometry(frames=3, height=2, width=2, fps=24.0)  # 64x64x17 pixels


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield ModelSpec.parse("tiny").local_dir()


def fresh_transformer(root: Path) -> torch.nn.Module:
    return load_components(ModelSpec.parse(str(root)), {"transformer"}).transformer


def inputs(seed: int = 0, batch: int = 2, audio_steps: int = 17) -> dict:
    g = torch.Generator().manual_seed(seed)
    video_sigmas = torch.full((batch, GEO.tokens), 0.7)
    video_sigmas[:, -2 * GEO.height * GEO.width :] = 0.0  # a clean two-latent-frame suffix
    return dict(
        video=torch.randn(batch, GEO.tokens, 128, generator=g),
        video_sigmas=video_sigmas,
        sigma=torch.full((batch,), 0.7),
        text=TextBatch(
            video=torch.randn(batch, 128, 32, generator=g),
            audio=torch.randn(batch, 128, 16, generator=g),
            mask=torch.ones(batch, 128, dtype=torch.int64),
        ),
        geometry=GEO,
        audio=torch.randn(batch, audio_steps, 128, generator=g),
        audio_sigmas=torch.full((batch, audio_steps), 0.3),
        audio_sigma=torch.full((batch,), 0.3),
    )


def video_only(kw: dict) -> dict:
    return {k: v for k, v in kw.items() if not k.startswith("audio")}


def test_pack_and_unpack_invert_each_other_in_diffusers_order() -> None:
    from diffusers import LTX2Pipeline

    video = torch.randn(2, 128, 3, 2, 5)
    assert torch.equal(pack_video(video), LTX2Pipeline._pack_latents(video))
    assert torch.equal(unpack_video(pack_video(video), 3, 2, 5), video)
    audio = torch.randn(2, 8, 7, 16)
    assert torch.equal(pack_audio(audio), LTX2Pipeline._pack_audio_latents(audio))
    assert torch.equal(unpack_audio(pack_audio(audio)), audio)


@torch.no_grad()
def test_sigmas_are_scaled_by_1000_once(tiny_root: Path) -> None:
    model, kw = fresh_transformer(tiny_root), inputs()
    ours, _ = predict_velocity(model, **kw, cross_timestep="own")
    theirs, _ = model(
        hidden_states=kw["video"],
        audio_hidden_states=kw["audio"],
        encoder_hidden_states=kw["text"].video,
        audio_encoder_hidden_states=kw["text"].audio,
        encoder_attention_mask=kw["text"].mask,
        audio_encoder_attention_mask=kw["text"].mask,
        timestep=kw["video_sigmas"] * 1000,
        audio_timestep=kw["audio_sigmas"] * 1000,
        sigma=kw["sigma"] * 1000,
        audio_sigma=kw["audio_sigma"] * 1000,
        num_frames=3,
        height=2,
        width=2,
        fps=24.0,
        audio_num_frames=17,
        return_dict=False,
    )
    assert torch.equal(ours, theirs)


@torch.no_grad()
def test_video_only_output_is_independent_of_the_placeholder_audio(tiny_root: Path) -> None:
    model, kw = fresh_transformer(tiny_root), inputs()
    silent, audio = predict_velocity(model, **video_only(kw))
    assert audio is None and silent.shape == (2, 12, 128)
    isolated, _ = predict_velocity(model, **kw, isolate_modalities=True)  # real audio, but cut off from video
    assert torch.equal(silent, isolated)
    joint, _ = predict_velocity(model, **kw)
    assert (joint - silent).abs().max() > 1e-3  # with audio on, the audio does reach the video


@torch.no_grad()
def test_cross_timestep_ref_feeds_gates_the_other_sigma(tiny_root: Path) -> None:
    model, kw = fresh_transformer(tiny_root), inputs()
    outs = {m: predict_velocity(model, **kw, cross_timestep=m) for m in ("ref", "own", "other")}
    for m in ("own", "other"):
        assert (outs["ref"][0] - outs[m][0]).abs().max() > 1e-4
        assert (outs["ref"][1] - outs[m][1]).abs().max() > 1e-4
    # with one sigma everywhere, the three conventions coincide
    kw.update(
        video_sigmas=torch.full_like(kw["video_sigmas"], 0.5),
        sigma=torch.full((2,), 0.5),
        audio_sigmas=torch.full_like(kw["audio_sigmas"], 0.5),
        audio_sigma=torch.full((2,), 0.5),
    )
    same = [predict_velocity(model, **kw, cross_timestep=m)[0] for m in ("ref", "own", "other")]
    assert torch.allclose(same[0], same[1], atol=1e-6) and torch.allclose(same[0], same[2], atol=1e-6)
    assert not model.av_cross_attn_video_a2v_gate._forward_pre_hooks  # the hook never outlives the call


@torch.no_grad()
def test_stg_acts_in_the_tiny_preset(tiny_root: Path) -> None:
    model, kw = fresh_transformer(tiny_root), inputs(batch=1)
    plain, _ = predict_velocity(model, **kw)
    perturbed, _ = predict_velocity(model, **kw, stg_blocks=[1])
    assert (plain - perturbed).abs().max() > 1e-3


def _train_a_little(model: torch.nn.Module, kw: dict, steps: int = 1) -> None:
    params = attach_lora(model, rank=4, targets=lora_targets(include_ff=True), alpha=8)
    optimiser = torch.optim.AdamW(params, lr=5e-2)
    for _ in range(steps):
        video, audio = predict_velocity(model, **kw)
        loss = video.square().mean() + audio.square().mean()
        loss.backward()
        optimiser.step()
        optimiser.zero_grad()


def test_lora_trains_only_adapters_and_round_trips(tiny_root: Path, tmp_path: Path) -> None:
    model, kw = fresh_transformer(tiny_root), inputs(batch=1)
    with torch.no_grad():
        base, _ = predict_velocity(model, **kw)
    base_weights = {k: v.clone() for k, v in model.state_dict().items()}
    params = attach_lora(model, rank=4)
    with torch.no_grad():
        assert torch.equal(predict_velocity(model, **kw)[0], base)  # B = 0: a fresh adapter changes nothing
    assert all(p.dtype == torch.float32 for p in params)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {
        n for n, _ in model.named_parameters() if "lora_" in n
    }
    model.delete_adapters("default")
    _train_a_little(model, kw)
    for key, value in model.state_dict().items():
        if "lora_" not in key:
            assert torch.equal(value, base_weights[key.replace("base_layer.", "")]), key
    path = save_lora(model, tmp_path / "adapter.safetensors")
    saved = safetensors.torch.load_file(path)
    assert all(
        k.startswith("diffusion_model.transformer_blocks.") and k.endswith(("lora_A.weight", "lora_B.weight"))
        for k in saved
    )
    assert {v.dtype for v in saved.values()} == {torch.bfloat16}
    assert len(saved) == 2 * 2 * (6 * 4 + 4)  # 2 blocks x A/B x (6 attentions x 4 projections + 4 FF linears)
    assert "diffusion_model.transformer_blocks.0.audio_to_video_attn.to_out.0.lora_A.weight" in saved
    with torch.no_grad():
        trained, _ = predict_velocity(model, **kw)
        reloaded = fresh_transformer(tiny_root)
        load_lora(reloaded, path)
        assert (trained - base).abs().max() > 1e-2
        assert torch.allclose(predict_velocity(reloaded, **kw)[0], trained, atol=2e-2)  # bf16 file


@torch.no_grad()
def test_diffusers_pipeline_reads_our_lora_file(tiny_root: Path, tmp_path: Path) -> None:
    from diffusers import LTX2Pipeline

    model, kw = fresh_transformer(tiny_root), inputs(batch=1)
    with torch.enable_grad():
        _train_a_little(model, kw)  # alpha = 2 x rank: the file must carry the scale in lora_B
    path = save_lora(model, tmp_path / "adapter.safetensors")
    ours, _ = predict_velocity(model, **kw)
    # The pipeline's own loader (LTX2LoraLoaderMixin) needs only the transformer to apply a transformer LoRA.
    none = dict.fromkeys(("scheduler", "vae", "audio_vae", "text_encoder", "tokenizer", "connectors", "vocoder"))
    pipe = LTX2Pipeline(transformer=fresh_transformer(tiny_root), **none)
    base, _ = predict_velocity(pipe.transformer, **kw)
    pipe.load_lora_weights(str(path), adapter_name="suffix")
    on, _ = predict_velocity(pipe.transformer, **kw)
    assert (on - base).abs().max() > 1e-2
    assert torch.allclose(on, ours, atol=2e-2)  # same adapter, read by a real client (bf16 rounding)
    pipe.set_adapters(["suffix"], adapter_weights=[0.0])
    assert torch.allclose(predict_velocity(pipe.transformer, **kw)[0], base, atol=1e-6)
    pipe.disable_lora()
    assert torch.allclose(predict_velocity(pipe.transformer, **kw)[0], base, atol=1e-6)


def test_lora_config_describes_the_run() -> None:
    config = lora_config(
        trigger_phrase="sks",
        rank=32,
        targets=lora_targets(),
        conditioning_frames=16,
        num_frames=89,
        frame_rate=24,
        width=768,
        height=768,
        with_audio=True,
        base_model="ltx-2.3",
    )
    assert json.loads(json.dumps(config)) == config
    assert (config["training_type"], config["lora"]["rank"], config["lora"]["alpha"]) == ("extend-suffix", 32, 32)
    assert config["lora"]["targets"] == ["to_q", "to_k", "to_v", "to_out.0"]
    assert config["frames"] == {"num_frames": 89, "frame_rate": 24, "width": 768, "height": 768}
