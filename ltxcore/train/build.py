"""What a training session trains with: the adapted model (LoRA attached, the base quantized if asked), the speed
settings applied to it (partial checkpointing, casts, compiled blocks), and its optimizer."""

from __future__ import annotations

import torch

from ltxcore.model.loader import default_dtype, load_components
from ltxcore.model.spec import ModelSpec
from ltxcore.train.adapters import attach_lora
from ltxcore.train.config import TrainConfig
from ltxcore.train.data import LatentSource


def load_model(
    spec: ModelSpec, config: TrainConfig, device: torch.device, transformer: torch.nn.Module | None = None
) -> torch.nn.Module:
    dtype = default_dtype(device)
    if device.type == "cuda":
        from ltxcore.train.speed import use_expandable_segments

        use_expandable_segments()  # before the model's weights are allocated
    model = transformer or load_components(spec, {"transformer"}, device=device, dtype=dtype).transformer
    # adapters fp32 even over bf16 weights; none on audio modules in a video-only run
    attach_lora(model, config.rank, config.target_modules, config.seed, with_audio=config.with_audio)
    if config.base_quantization == "int8":
        from ltxcore.train.memory import quantize_base

        quantize_base(model)
    return model


def speed_up(
    model: torch.nn.Module,
    cache: LatentSource,
    config: TrainConfig,
    device: torch.device,
    params: dict[str, torch.nn.Parameter],
) -> None:
    """Checkpointing for the blocks that need it, no redundant LoRA casts under CUDA autocast, compiled blocks."""
    from ltxcore.train.checkpointing import apply_checkpointing
    from ltxcore.train.speed import compile_blocks, compile_enabled, skip_lora_input_casts

    sample = cache.load(0, with_audio=config.with_audio)
    _, f, h, w = sample.video.shape
    apply_checkpointing(
        model,
        config.gradient_checkpointing,
        config.checkpoint_blocks,
        device,
        video_tokens=f * h * w,
        audio_tokens=0 if sample.audio is None else sample.audio.shape[1],
        batch_size=config.batch_size,
        rank=config.rank,
        trainable_params=sum(p.numel() for p in params.values()),
    )
    if device.type == "cuda":
        skip_lora_input_casts(model)
    if compile_enabled(config.compile, device):
        compile_blocks(model)


def make_optimizer(
    config: TrainConfig, params: list[torch.nn.Parameter], device: torch.device
) -> torch.optim.Optimizer:
    if config.optimizer == "adamw8bit":
        from ltxcore.train.memory import adamw_8bit

        return adamw_8bit(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    from ltxcore.train.speed import adamw

    return adamw(params, lr=config.learning_rate, weight_decay=config.weight_decay, device=device)
