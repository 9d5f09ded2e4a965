"""Partial gradient checkpointing: recompute K of the transformer's blocks in backward, keep the others' activations.

Recomputing a block costs one more forward of it (about a third of its step time); keeping it costs its saved
activations (about 2.3 GiB per 2.3 block at 768x768x89 video-only, 3.0 GiB with audio: `memory.block_activation_bytes`).
So the fastest step that fits recomputes as few blocks as the memory requires. The first K blocks are the ones
recomputed: backward reaches them last, after the kept blocks' activations are freed, so their recompute never stacks
on top of the kept ones. Which blocks are recomputed changes no number (recompute is exact; tested for every K).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Literal

import torch
import torch.utils.checkpoint

CheckpointBlocks = Literal["auto", "all"] | int
log = logging.getLogger(__name__)


def blocks_to_checkpoint(
    setting: CheckpointBlocks,
    num_blocks: int,
    *,
    free_bytes: int | None = None,
    block_bytes: int = 0,
    input_bytes: int = 0,
) -> int:
    """How many blocks to recompute.

    `setting`: "all", a count N (capped at the number of blocks), or "auto": the fewest blocks so that the kept
    blocks' activations (`block_bytes` each), the recomputed blocks' inputs (`input_bytes` each) and one block's worth
    of backward temporaries fit in `free_bytes`. Without a free-memory figure (the CPU, where nothing is planned
    against a device's memory), "auto" recomputes every block, which is what the switch alone did.
    """
    if setting == "all":
        return num_blocks
    if isinstance(setting, int):
        assert setting >= 0, "checkpoint_blocks must be >= 0"
        return min(setting, num_blocks)
    assert setting == "auto", f"unknown checkpoint_blocks {setting!r}"
    if free_bytes is None:
        return num_blocks
    assert block_bytes > input_bytes >= 0, "a kept block must cost more than its checkpointed input"
    room = free_bytes - block_bytes - num_blocks * input_bytes  # one block of backward temporaries always
    kept = max(0, math.floor(room / (block_bytes - input_bytes)))
    return max(0, num_blocks - kept)


def enable_partial_checkpointing(model: torch.nn.Module, count: int) -> list[int]:
    """Recompute the first `count` transformer blocks in backward (non-reentrant torch checkpointing); returns their
    indices. diffusers routes every block through the model's checkpointing function once checkpointing is on; the
    function here checkpoints only the chosen blocks and calls the others directly."""
    blocks = list(model.transformer_blocks)
    chosen = {id(b) for b in blocks[:count]}
    if count == 0:
        model.disable_gradient_checkpointing()
        return []

    def checkpoint_chosen(block: torch.nn.Module, *args: object) -> object:
        if id(block) in chosen:
            return torch.utils.checkpoint.checkpoint(block.__call__, *args, use_reentrant=False)
        return block(*args)

    model.enable_gradient_checkpointing(gradient_checkpointing_func=checkpoint_chosen)
    return list(range(count))


def plan_for_device(
    setting: CheckpointBlocks,
    model: torch.nn.Module,
    device: torch.device,
    block_bytes: Callable[[], tuple[int, int]],
    reserve_bytes: int,
) -> int:
    """`blocks_to_checkpoint` against the device's free memory now, less `reserve_bytes` (what the step will still
    allocate outside the blocks: LoRA gradients, AdamW moments, the stem and head) and a 10% allocator margin.
    `block_bytes` gives (kept block, checkpointed input) bytes; it is called only when "auto" needs it on CUDA."""
    num = len(model.transformer_blocks)
    if setting != "auto" or device.type != "cuda":
        return blocks_to_checkpoint(setting, num)
    free, _total = torch.cuda.mem_get_info(device)
    kept, inputs = block_bytes()
    usable = int(free * 0.9) - reserve_bytes
    count = blocks_to_checkpoint("auto", num, free_bytes=usable, block_bytes=kept, input_bytes=inputs)
    log.info(
        "checkpoint_blocks auto: %d of %d blocks recomputed (%.1f GiB free, %.2f GiB per kept block)",
        count,
        num,
        free / 2**30,
        kept / 2**30,
    )
    return count


def apply_checkpointing(
    model: torch.nn.Module,
    gradient_checkpointing: bool,
    setting: CheckpointBlocks,
    device: torch.device,
    *,
    video_tokens: int,
    audio_tokens: int,
    batch_size: int,
    rank: int,
    trainable_params: int,
) -> int:
    """Turn recompute on for the blocks the setting asks for (none when `gradient_checkpointing` is off); returns
    how many. On CUDA "auto" measures one block's activations at the run's token counts (on the CPU, seconds)."""
    if not gradient_checkpointing:
        return 0

    def measured() -> tuple[int, int]:
        from ltxcore.train.memory import block_activation_bytes

        cfg = model.config
        kept = batch_size * block_activation_bytes(video_tokens, audio_tokens, heads=cfg.num_attention_heads, rank=rank)
        width_v = cfg.num_attention_heads * cfg.attention_head_dim
        width_a = cfg.audio_num_attention_heads * cfg.audio_attention_head_dim
        inputs = batch_size * 2 * (video_tokens * width_v + max(1, audio_tokens) * width_a)  # bf16 hidden states in
        return kept, inputs

    # LoRA gradients (fp32) and AdamW's two fp32 moments are allocated on the first step, after this plan is made;
    # 2 GiB more covers the stem, the head, the loss and the text inputs.
    reserve = trainable_params * 4 * 3 + (2 << 30)
    count = plan_for_device(setting, model, device, measured, reserve)
    enable_partial_checkpointing(model, count)
    return count
