"""Speed settings of a training run that change no learned number: peft's redundant input casts, fused AdamW, the CUDA
allocator, regional compilation of the repeated transformer blocks.
"""

from __future__ import annotations

import torch


def skip_lora_input_casts(model: torch.nn.Module) -> int:
    """Stop peft casting each LoRA input to the adapter's fp32 before lora_A.

    Under autocast (every CUDA forward here) lora_A's matmul casts its input back to bf16 anyway, so the cast only
    spent a read, a write and, in training, a saved fp32 copy of the input per adapted projection: bf16 -> fp32 ->
    bf16 is exact, so outputs and gradients are bit for bit the same. Without autocast over a bf16 base the adapter's
    fp32 matmul would refuse the bf16 input: call this only where the model runs under autocast (or in one dtype).
    Returns the number of LoRA layers changed.
    """
    from peft.tuners.lora import LoraLayer

    layers = [m for m in model.modules() if isinstance(m, LoraLayer)]
    for layer in layers:
        layer.cast_input_dtype_enabled = False
    return len(layers)


def adamw(
    params: list[torch.nn.Parameter], *, lr: float, weight_decay: float, device: torch.device
) -> torch.optim.Optimizer:
    """AdamW; on CUDA its fused kernel: one launch for all LoRA tensors instead of a dozen per tensor group (the same
    update up to float rounding order)."""
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True if device.type == "cuda" else None)


def use_expandable_segments() -> bool:
    """Let the CUDA caching allocator grow segments in place (less fragmentation between steps whose activations
    come and go in different sizes), unless the user already configured the allocator. Returns whether it was set."""
    import os

    if os.environ.get("PYTORCH_CUDA_ALLOC_CONF") or os.environ.get("PYTORCH_ALLOC_CONF"):
        return False
    torch.cuda.memory._set_allocator_settings("expandable_segments:True")
    return True


def compile_enabled(setting: bool | None, device: torch.device) -> bool:
    """The `compile` trainer setting: None = on CUDA only (on the CPU the compile costs more than it saves)."""
    return device.type == "cuda" if setting is None else setting


def compile_blocks(model: torch.nn.Module, backend: str = "inductor") -> None:
    """torch.compile every repeated transformer block (diffusers' regional compilation).

    The 48 blocks share one forward; torch inlines module attributes as graph inputs, so one graph serves them all
    (one compile, tested). Rest of the model (stem, head, the checkpointing wrapper) stays eager, so the compile
    takes seconds, not minutes, and recompute calls the compiled block.
    """
    model.compile_repeated_blocks(backend=backend, dynamic=False)
