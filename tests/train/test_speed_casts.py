"""Work removed from the step without changing a number: peft's fp32 cast of LoRA inputs under autocast, the audio
adapters of a video-only run, and fused AdamW."""

from __future__ import annotations

from pathlib import Path

import safetensors.torch
import torch

from ltxcore.model.forward import TextBatch, VideoGeometry, predict_velocity
from ltxcore.model.random_weights import random_transformer, shrink
from ltxcore.train.adapters import attach_lora, is_audio_module, lora_parameters, save_lora_file
from ltxcore.train.speed import adamw, skip_lora_input_casts

GEO = VideoGeometry(frames=3, height=2, width=4, fps=24.0)
TARGETS = ("to_q", "to_k", "to_v", "to_out.0")


def model_23(dtype: torch.dtype, layers: int = 2) -> torch.nn.Module:
    return random_transformer(shrink("ltx-2.3", heads=1, layers=layers), device="cpu", dtype=dtype, seed=2)


def inputs(dtype: torch.dtype, audio: bool = True) -> dict:
    g = torch.Generator().manual_seed(0)
    sig = torch.tensor([0.7])
    video_sigmas = torch.full((1, GEO.tokens), 0.7)
    video_sigmas[:, -8:] = 0.0
    kw = dict(
        video=torch.randn(1, GEO.tokens, 128, generator=g).to(dtype),
        video_sigmas=video_sigmas,
        sigma=sig,
        text=TextBatch(
            video=torch.randn(1, 128, 128, generator=g),
            audio=torch.randn(1, 128, 64, generator=g),
            mask=torch.ones(1, 128, dtype=torch.int64),
        ),
        geometry=GEO,
    )
    if audio:
        kw.update(
            audio=torch.randn(1, 9, 128, generator=g).to(dtype),
            audio_sigmas=torch.full((1, 9), 0.4),
            audio_sigma=torch.full((1,), 0.4),
        )
    return kw


def outputs_and_grads(model: torch.nn.Module) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # bf16 compute over bf16 base and fp32 LoRA, as on CUDA
        v, a = predict_velocity(model, **inputs(torch.bfloat16))
    (v.float().square().mean() + a.float().square().mean()).backward()
    return torch.cat([v.flatten(), a.flatten()]), {n: p.grad for n, p in model.named_parameters() if p.requires_grad}


def test_lora_input_cast_off_under_autocast_is_bitwise_equal_in_outputs_and_gradients() -> None:
    model = model_23(torch.bfloat16)
    attach_lora(model, 8, TARGETS, seed=0)
    with torch.no_grad():  # B = 0 would hide the adapters from the outputs and A's gradient
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0.0, 0.05, generator=torch.Generator().manual_seed(len(n)))
    out_cast, grads_cast = outputs_and_grads(model)
    assert skip_lora_input_casts(model) == 2 * 6 * 4  # 2 blocks x 6 attentions x q/k/v/out
    out, grads = outputs_and_grads(model)
    assert out.dtype == torch.bfloat16 and out.float().abs().max().item() > 0.1
    assert torch.equal(out, out_cast)
    assert grads.keys() == grads_cast.keys() and len(grads) == 2 * 6 * 4 * 2
    assert all(torch.equal(grads[n], grads_cast[n]) for n in grads)
    assert max(g.abs().max().item() for g in grads.values()) > 0


def train_and_save(with_audio_adapters: bool, path: Path) -> tuple[torch.nn.Module, list[float]]:
    """Three AdamW steps of a video-only objective, then the LoRA file (the trainer's own save)."""
    model = model_23(torch.float32, layers=2)
    attach_lora(model, 4, TARGETS, seed=7, with_audio=with_audio_adapters)
    params = lora_parameters(model, with_audio=False)
    opt = torch.optim.AdamW(params.values(), lr=1e-2)
    losses = []
    for _ in range(3):
        v, _a = predict_velocity(model, **inputs(torch.float32, audio=False))
        loss = v.square().mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    save_lora_file(path, model, params, {"rank": 4})
    return model, losses


def test_video_only_run_creates_no_audio_adapters_and_writes_the_same_file(tmp_path: Path) -> None:
    frozen, losses_frozen = train_and_save(True, tmp_path / "frozen.safetensors")  # audio adapters made, frozen
    dropped, losses = train_and_save(False, tmp_path / "dropped.safetensors")
    lora_names = [n for n, _ in dropped.named_parameters() if "lora_" in n]
    assert lora_names and not any(is_audio_module(n) for n in lora_names)
    assert sum(is_audio_module(n) for n, _ in frozen.named_parameters() if "lora_" in n) == 2 * 4 * 4 * 2
    assert losses == losses_frozen and losses[-1] != losses[0]  # it trained, identically
    assert (tmp_path / "dropped.safetensors").read_bytes() == (tmp_path / "frozen.safetensors").read_bytes()
    keys = safetensors.torch.load_file(tmp_path / "dropped.safetensors").keys()
    assert "diffusion_model.transformer_blocks.0.attn1.to_q.lora_A.weight" in keys and len(keys) == 2 * 2 * 4 * 2


def test_fused_adamw_on_cuda_only_and_the_same_update_as_foreach_within_float_rounding() -> None:
    assert (
        adamw([torch.nn.Parameter(torch.zeros(2))], lr=1e-3, weight_decay=0.0, device=torch.device("cpu")).defaults[
            "fused"
        ]
        is None
    )
    # torch's fused kernel also runs on the CPU: the update it makes is foreach's, up to rounding order.
    g = torch.Generator().manual_seed(0)
    start = [torch.randn(64, 32, generator=g) for _ in range(3)]
    grads = [[torch.randn(64, 32, generator=g) for _ in range(3)] for _ in range(5)]
    results = []
    for fused in (None, True):
        params = [torch.nn.Parameter(s.clone()) for s in start]
        opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.01, fused=fused)
        for step in grads:
            for p, gr in zip(params, step, strict=True):
                p.grad = gr.clone()
            opt.step()
        results.append(torch.cat([p.detach().flatten() for p in params]))
    moved = (results[0] - torch.cat([s.flatten() for s in start])).abs().max().item()
    assert moved > 1e-2 and (results[1] - results[0]).abs().max().item() <= 1e-6
