"""Memory tiers (trainer settings): an int8 frozen base and 8-bit AdamW moments, both from torchao.

Only what trains stays in full precision: the LoRA weights and their gradients are fp32 in every tier. The base
transformer's Linear weights can be stored as weight-only int8 (half of bf16; the matmul dequantises on the fly), and
AdamW's two moments can be stored blockwise in 8 bits (a quarter of fp32). Neither touches the LoRA file's format.
"""

from __future__ import annotations

import torch


def quantize_base(model: torch.nn.Module) -> int:
    """Store every frozen Linear weight of `model` as weight-only int8, leaving the LoRA adapters in fp32.

    Run after the LoRA is attached: peft's wrapped layers keep their `base_layer` Linear, which is what gets quantized.
    Returns the number of layers quantized.
    """
    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    done = []

    def frozen_linear(module: torch.nn.Module, name: str) -> bool:
        hit = isinstance(module, torch.nn.Linear) and "lora_" not in name and not module.weight.requires_grad
        if hit:
            done.append(name)
        return hit

    quantize_(model, Int8WeightOnlyConfig(), filter_fn=frozen_linear)
    assert done, "no frozen Linear layer was found to quantize"
    return len(done)


def adamw_8bit(params: list[torch.nn.Parameter], *, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW whose moments are kept blockwise in 8 bits (torchao; tensors under 4096 elements stay fp32).

    torchao compiles its per-parameter update with torch.compile (inductor), which costs a compile per distinct
    shape on the first step; LoRA shapes repeat across the 48 blocks, so that is a handful of compiles.
    """
    from torchao.optim import AdamW8bit

    class ScheduledAdamW8bit(AdamW8bit):
        """torchao keeps the LR as a tensor (so a compiled update never recompiles for a new value); the trainer's
        schedule sets a float, which is written into that tensor here."""

        def step(self, closure=None):
            for group, lr in zip(self.param_groups, self._lr, strict=True):
                if not isinstance(group["lr"], torch.Tensor):
                    lr.fill_(group["lr"])
                    group["lr"] = lr
            return super().step(closure)

    optimizer = ScheduledAdamW8bit(params, lr=lr, weight_decay=weight_decay)
    optimizer._lr = [group["lr"] for group in optimizer.param_groups]  # the tensors torchao created
    return optimizer


# --- activation memory of one transformer block (what gradient checkpointing trades for recompute) -------------------


def saved_bytes_per_block(
    video_tokens: int,
    audio_tokens: int,
    *,
    heads: int,
    rank: int = 32,
    text_tokens: int = 1024,
    with_audio: bool | None = None,
    threads: int | None = None,
) -> int:
    """Bytes one 2.3 transformer block keeps for backward in a LoRA step, measured on the CPU under bf16 autocast.

    The block is the real diffusers block at `heads` heads per stream (head dims 128 / 64 kept) with the trainer's
    LoRA (fp32 adapters over a bf16 base, peft's input cast off as on CUDA). Every tensor autograd saves while the
    second block runs is counted once (by storage), unless an earlier block or the model's stem already saved it
    (the text, the timestep embeddings and RoPE tables are shared by all blocks) or it is a weight. Widths grow
    linearly with heads, so two measurements at small head counts give the full-size figure exactly
    (`block_activation_bytes`). With audio off (`audio_tokens=0`) the stream runs its one placeholder token.
    """
    if threads:
        torch.set_num_threads(threads)
    with torch.random.fork_rng(devices=[]):  # random inputs without touching the caller's global generator
        return _saved_bytes(
            video_tokens, audio_tokens, heads, rank, text_tokens, audio_tokens > 0 if with_audio is None else with_audio
        )


def _saved_bytes(video_tokens: int, audio_tokens: int, heads: int, rank: int, text_tokens: int, audio: bool) -> int:
    from ltxcore.model.forward import TextBatch, VideoGeometry, predict_velocity
    from ltxcore.model.random_weights import random_transformer, shrink
    from ltxcore.train.adapters import attach_lora
    from ltxcore.train.speed import skip_lora_input_casts

    torch.manual_seed(0)
    cfg = shrink("ltx-2.3", heads=heads, layers=2)
    model = random_transformer(cfg, device="cpu", dtype=torch.bfloat16)
    attach_lora(model, rank, ("to_q", "to_k", "to_v", "to_out.0"), seed=0)
    skip_lora_input_casts(model)
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: set[int] = set()
    counted = {"bytes": 0, "on": False}

    def pack(t: torch.Tensor) -> torch.Tensor:
        ptr = t.untyped_storage().data_ptr()
        if ptr not in weights and ptr not in seen:
            seen.add(ptr)
            if counted["on"]:
                counted["bytes"] += t.untyped_storage().nbytes()
        return t

    second = model.transformer_blocks[1]
    second.register_forward_pre_hook(lambda *_: counted.update(on=True))
    second.register_forward_hook(lambda *_: counted.update(on=False))
    geo = VideoGeometry(frames=1, height=1, width=video_tokens, fps=24.0)  # what is saved depends on counts only
    text = TextBatch(
        video=torch.randn(1, text_tokens, cfg["cross_attention_dim"]),
        audio=torch.randn(1, text_tokens, cfg["audio_cross_attention_dim"]),
        mask=torch.ones(1, text_tokens, dtype=torch.int64),
    )
    sigma = torch.full((1,), 0.5)
    a = torch.randn(1, audio_tokens, 128) if audio else None
    with torch.autocast("cpu", dtype=torch.bfloat16), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        predict_velocity(
            model,
            torch.randn(1, video_tokens, 128, dtype=torch.bfloat16),
            torch.full((1, video_tokens), 0.5),
            sigma,
            text,
            geo,
            a,
            torch.full((1, audio_tokens), 0.5) if audio else None,
            sigma if audio else None,
        )
    return counted["bytes"]


def block_activation_bytes(
    video_tokens: int, audio_tokens: int, *, heads: int = 32, rank: int = 32, text_tokens: int = 1024
) -> int:
    """Saved bytes of one full-width block (`heads` per stream), from measurements at 1 and 2 heads.

    Every saved tensor is either as wide as a stream (grows with heads), one value per head, or rank / token sized
    (independent of heads), so the size is affine in heads: f(h) = f(1) + (h - 1) * (f(2) - f(1)).
    """
    one = saved_bytes_per_block(video_tokens, audio_tokens, heads=1, rank=rank, text_tokens=text_tokens)
    two = saved_bytes_per_block(video_tokens, audio_tokens, heads=2, rank=rank, text_tokens=text_tokens)
    return one + (heads - 1) * (two - one)


def frozen_weight_bytes(model: torch.nn.Module, base: str = "none") -> int:
    """Bytes of the frozen transformer weights: bf16, or (`base="int8"`) int8 Linear weights with one bf16 scale per
    output row and everything else (norms, tables, biases) still bf16. LoRA parameters are not counted."""
    total = 0
    for name, module in model.named_modules():
        for pname, p in module.named_parameters(recurse=False):
            if "lora_" in f"{name}.{pname}":
                continue
            quantized = base == "int8" and isinstance(module, torch.nn.Linear) and pname == "weight"
            total += p.numel() + 2 * p.shape[0] if quantized else 2 * p.numel()
    return total


def state_bytes(*, weights: int, lora_params: int, optimizer: str = "adamw", other_bytes: int = 2 << 30) -> int:
    """What a step holds besides block activations: frozen weights, the LoRA's fp32 weights and gradients, AdamW's
    two moments (fp32: 8 bytes a parameter; 8-bit: 2), and `other_bytes` for the stem, the head, the loss, the text
    and the latents (an allowance: about 2 GiB at 768x768x89)."""
    moments = 8 if optimizer == "adamw" else 2
    return weights + lora_params * (4 + 4 + moments) + other_bytes


def activation_peak_bytes(*, blocks: int, block_bytes: int, input_bytes: int, checkpointed: int) -> int:
    """Block activations at their peak (the end of the forward): the kept blocks' saved tensors, the recomputed
    blocks' inputs, and one block's worth of backward temporaries (the recompute, or the last block's gradients)."""
    return (blocks - checkpointed) * block_bytes + checkpointed * input_bytes + block_bytes


def step_peak_bytes(
    *,
    weights: int,
    lora_params: int,
    blocks: int,
    block_bytes: int,
    input_bytes: int,
    checkpointed: int,
    optimizer: str = "adamw",
    other_bytes: int = 2 << 30,
) -> int:
    """Estimated peak CUDA allocation of one LoRA step (batch 1): `state_bytes` + `activation_peak_bytes`."""
    return state_bytes(
        weights=weights, lora_params=lora_params, optimizer=optimizer, other_bytes=other_bytes
    ) + activation_peak_bytes(
        blocks=blocks, block_bytes=block_bytes, input_bytes=input_bytes, checkpointed=checkpointed
    )
