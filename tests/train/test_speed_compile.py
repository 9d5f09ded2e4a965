"""Regional compilation of the repeated transformer blocks: no graph break, one graph for all blocks, and compiled
training steps that give eager's losses and LoRA (aot_eager: torch.compile's graph capture and autograd without a C
compiler, so it runs on any CPU)."""

from __future__ import annotations

import torch

from ltxcore.model.forward import TextBatch, VideoGeometry, predict_velocity
from ltxcore.model.random_weights import random_transformer, shrink
from ltxcore.train.adapters import attach_lora, lora_parameters
from ltxcore.train.checkpointing import enable_partial_checkpointing
from ltxcore.train.speed import compile_blocks, compile_enabled

GEO = VideoGeometry(frames=3, height=2, width=4, fps=24.0)
TARGETS = ("to_q", "to_k", "to_v", "to_out.0")


def lora_model(layers: int = 2) -> torch.nn.Module:
    model = random_transformer(shrink("ltx-2.3", heads=1, layers=layers), device="cpu", dtype=torch.float32, seed=4)
    attach_lora(model, 4, TARGETS, seed=0)
    return model.train()


def inputs(step: int) -> dict:
    g = torch.Generator().manual_seed(step)
    sig = torch.tensor([0.3 + 0.2 * step])
    video_sigmas = sig.expand(1, GEO.tokens).clone()
    video_sigmas[:, -8:] = 0.0
    return dict(
        video=torch.randn(1, GEO.tokens, 128, generator=g),
        video_sigmas=video_sigmas,
        sigma=sig,
        text=TextBatch(
            video=torch.randn(1, 128, 128, generator=g),
            audio=torch.randn(1, 128, 64, generator=g),
            mask=torch.ones(1, 128, dtype=torch.int64),
        ),
        geometry=GEO,
        audio=torch.randn(1, 9, 128, generator=g),
        audio_sigmas=torch.full((1, 9), 0.4),
        audio_sigma=torch.full((1,), 0.4),
    )


def train(model: torch.nn.Module, steps: int = 3) -> tuple[list[float], dict[str, torch.Tensor]]:
    params = lora_parameters(model, with_audio=True)
    opt = torch.optim.AdamW(params.values(), lr=2e-2)
    losses = []
    for step in range(steps):
        v, a = predict_velocity(model, **inputs(step))
        loss = v.square().mean() + a.square().mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    return losses, {n: p.detach().clone() for n, p in params.items()}


def block_call(model: torch.nn.Module) -> dict:
    """The keyword arguments the model hands its first block (captured from a real forward)."""
    seen: dict = {}
    hook = model.transformer_blocks[0].register_forward_pre_hook(lambda _m, _a, kw: seen.update(kw), with_kwargs=True)
    with torch.no_grad():
        predict_velocity(model, **inputs(0))
    hook.remove()
    return seen


def test_a_lora_block_of_the_23_transformer_traces_as_one_graph_with_no_break() -> None:
    model = lora_model(layers=1)
    explained = torch._dynamo.explain(model.transformer_blocks[0])(**block_call(model))
    assert explained.graph_break_count == 0, [str(r.reason) for r in explained.break_reasons]
    assert explained.graph_count == 1 and explained.op_count > 100


def test_compiled_blocks_train_like_eager_and_share_one_graph() -> None:
    eager_losses, eager_lora = train(lora_model(layers=3))
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    model = lora_model(layers=3)
    enable_partial_checkpointing(model, 1)  # block 0 recomputed through its compiled forward, blocks 1-2 kept
    compile_blocks(model, backend="aot_eager")
    losses, lora = train(model)
    # Every block ran compiled, from two captured graphs for three blocks (the blocks share their code, their weights
    # are graph inputs): block 0's input needs no gradient, every later block's does, so 48 blocks also make two.
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 2
    assert all(b._compiled_call_impl is not None for b in model.transformer_blocks)
    assert len(losses) == 3 and losses[0] != losses[-1]
    # aot_eager runs the same aten ops as eager after capture and functionalisation; allow float rounding order.
    assert all(abs(a - b) <= 1e-5 * abs(b) for a, b in zip(losses, eager_losses, strict=True)), (losses, eager_losses)
    start = dict(lora_model(layers=3).named_parameters())
    moved = max((eager_lora[n] - start[n]).abs().max().item() for n in eager_lora)
    worst = max((lora[n] - eager_lora[n]).abs().max().item() for n in eager_lora)
    assert moved > 1e-2 and worst <= 1e-5, (moved, worst)


def test_compile_defaults_on_for_cuda_and_off_for_the_cpu_unless_set() -> None:
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert compile_enabled(None, cuda) and not compile_enabled(None, cpu)
    assert not compile_enabled(False, cuda) and compile_enabled(True, cpu)
