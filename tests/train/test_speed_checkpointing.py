"""Partial gradient checkpointing: the same gradients for any number of recomputed blocks, less memory kept per
recomputed block, and the 'auto' arithmetic against a free-memory figure."""

from __future__ import annotations

import itertools

import pytest
import torch

from ltxcore.model.forward import TextBatch, VideoGeometry, predict_velocity
from ltxcore.model.random_weights import random_transformer, shrink
from ltxcore.train.adapters import attach_lora
from ltxcore.train.checkpointing import blocks_to_checkpoint, enable_partial_checkpointing
from ltxcore.train.memory import saved_bytes_per_block

GEO = VideoGeometry(frames=3, height=4, width=4, fps=24.0)
GiB = 1 << 30


def lora_model(layers: int = 3) -> torch.nn.Module:
    model = random_transformer(shrink("ltx-2.3", heads=1, layers=layers), device="cpu", dtype=torch.float32, seed=1)
    attach_lora(model, 4, ("to_q", "to_k", "to_v", "to_out.0"), seed=0)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():  # B starts at zero, which would leave A without gradient: give both a value
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
    return model.train()


def loss_of(model: torch.nn.Module) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    text = TextBatch(
        video=torch.randn(1, 128, 128, generator=g),
        audio=torch.randn(1, 128, 64, generator=g),
        mask=torch.ones(1, 128, dtype=torch.int64),
    )
    sig = torch.tensor([0.6])
    video_sigmas = torch.full((1, GEO.tokens), 0.6)
    video_sigmas[:, -16:] = 0.0
    v, a = predict_velocity(
        model,
        torch.randn(1, GEO.tokens, 128, generator=g),
        video_sigmas,
        sig,
        text,
        GEO,
        torch.randn(1, 9, 128, generator=g),
        torch.full((1, 9), 0.4),
        torch.full((1,), 0.4),
    )
    return v.square().mean() + a.square().mean()


def lora_grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    loss_of(model).backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_lora_gradients_are_bitwise_equal_for_every_number_of_checkpointed_blocks() -> None:
    model = lora_model(layers=3)
    reference = lora_grads(model)  # no checkpointing
    assert len(reference) == 3 * 6 * 4 * 2 and max(g.abs().max().item() for g in reference.values()) > 1e-4
    for count in (1, 2, 3):
        assert enable_partial_checkpointing(model, count) == list(range(count))
        grads = lora_grads(model)
        assert grads.keys() == reference.keys()
        assert all(torch.equal(grads[n], reference[n]) for n in reference), f"gradients differ at K={count}"
    assert enable_partial_checkpointing(model, 0) == [] and not model.gradient_checkpointing


def saved_bytes(model: torch.nn.Module) -> int:
    storages: set[int] = set()
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        ptr = t.untyped_storage().data_ptr()
        if ptr not in storages and ptr not in weights:
            storages.add(ptr)
            total += t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss_of(model)
    return total


def test_each_checkpointed_block_keeps_less_for_backward() -> None:
    model = lora_model(layers=3)
    kept = []
    for count in (0, 1, 2, 3):
        enable_partial_checkpointing(model, count)
        kept.append(saved_bytes(model))
    drops = [a - b for a, b in itertools.pairwise(kept)]
    # Every recomputed block frees its own activations; the first frees less, since the tensors all blocks share (the
    # text, timestep embeddings, RoPE tables) are then kept by the next block instead. Blocks 2 and 3 free alike.
    assert all(d > 0.15 * kept[0] for d in drops), (kept, drops)
    assert abs(drops[2] - drops[1]) <= 0.05 * drops[2], drops
    assert kept[3] < 0.5 * kept[0]


def test_auto_keeps_as_many_blocks_as_the_free_memory_holds() -> None:
    # 48 blocks of 2.3 GiB, 60 MiB of input each: 40 GiB free keeps floor((40 - 2.3 - 48*0.06) / 2.24) = 15 blocks.
    count = blocks_to_checkpoint(
        "auto", 48, free_bytes=40 * GiB, block_bytes=int(2.3 * GiB), input_bytes=int(0.06 * GiB)
    )
    assert count == 48 - 15
    assert blocks_to_checkpoint("auto", 48, free_bytes=500 * GiB, block_bytes=GiB, input_bytes=1) == 0
    assert blocks_to_checkpoint("auto", 48, free_bytes=GiB, block_bytes=2 * GiB, input_bytes=1) == 48
    assert blocks_to_checkpoint("auto", 48) == 48  # the CPU: no free-memory figure, every block recomputes
    assert blocks_to_checkpoint("all", 48) == 48 and blocks_to_checkpoint(8, 48) == 8
    assert blocks_to_checkpoint(60, 48) == 48


@pytest.mark.parametrize("with_audio", [False, True])
def test_block_activations_grow_affinely_in_heads_so_two_small_measurements_give_full_width(with_audio: bool) -> None:
    audio = 25 if with_audio else 0
    one, two, three = (saved_bytes_per_block(512, audio, heads=h, rank=8, text_tokens=128) for h in (1, 2, 3))
    assert two > one > 0
    assert three == one + 2 * (two - one)  # the extrapolation `block_activation_bytes` makes to 32 heads is exact


@pytest.mark.parametrize(
    ("ckpt", "setting", "runs"),
    [(False, "auto", [1, 1]), (True, "auto", [2, 2]), (True, 1, [2, 1]), (True, "all", [2, 2])],
)
def test_the_trainer_recomputes_the_blocks_its_settings_name(tmp_path, tiny_text, ckpt, setting, runs) -> None:
    """Counted by the calls each block of the tiny preset gets in one training step (a recomputed block is called
    again in backward; torch stops a recompute early, so the pre-hook counts it); on the CPU 'auto' is 'all'."""
    from ltxcore.model.spec import ModelSpec
    from ltxcore.train.config import TrainConfig
    from ltxcore.train.files import RunFiles
    from ltxcore.train.session import Session
    from ltxcore.train.synthetic import GlidingBlobs

    cfg = TrainConfig(
        rank=4,
        steps=1,
        conditioning_frames=8,
        frame_rate=24,
        with_audio=True,
        holdout_clips=1,
        gradient_checkpointing=ckpt,
        checkpoint_blocks=setting,
    )
    session = Session.build(
        GlidingBlobs(3, tiny_text),
        cfg,
        RunFiles.under(tmp_path),
        spec=ModelSpec.parse("tiny"),
        device=torch.device("cpu"),
    )
    calls = [0] * len(session.model.transformer_blocks)
    for i, block in enumerate(session.model.transformer_blocks):
        block.register_forward_pre_hook(lambda *_, i=i: calls.__setitem__(i, calls[i] + 1))
    event = session.train_step(0)
    session.close()
    assert calls == runs and event.loss > 0
