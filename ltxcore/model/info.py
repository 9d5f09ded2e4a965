"""Accounting for the full-size LTX-2.3 transformer, built on the meta device (no weights, no memory).

The 2.3 configuration cannot be downloaded here, so it is written down below. Every number comes from diffusers'
conversion script `scripts/convert_ltx2_to_diffusers.py`, `get_ltx2_transformer_config("2.3")` (the config the
public LTX-2.3 diffusers conversions carry), cross-checked against the official ltx-core model configurator (48
blocks, 32 heads of 128 for video and 32 of 64 for audio, cross-attention AdaLN and gated attention on for 2.3).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ltxcore import geometry
from ltxcore.model.forward import TextBatch, VideoGeometry, predict_velocity
from ltxcore.model.gpus import GPUS
from ltxcore.model.lora import attach_lora, lora_targets

LTX23_TRANSFORMER: dict[str, Any] = {
    "in_channels": 128,
    "out_channels": 128,  # 128 video latent channels (video VAE)
    "patch_size": 1,
    "patch_size_t": 1,  # tokens are latent voxels
    "num_attention_heads": 32,
    "attention_head_dim": 128,  # video width 4096
    "cross_attention_dim": 4096,  # video text context = connector video_hidden_dim
    "vae_scale_factors": (8, 32, 32),
    "pos_embed_max_pos": 20,
    "base_height": 2048,
    "base_width": 2048,
    "gated_attn": True,
    "cross_attn_mod": True,  # 2.3: per-head attention gates, text cross-attention AdaLN
    "audio_in_channels": 128,
    "audio_out_channels": 128,  # 8 latent channels x 16 mel bins
    "audio_patch_size": 1,
    "audio_patch_size_t": 1,
    "audio_num_attention_heads": 32,
    "audio_attention_head_dim": 64,  # audio width 2048
    "audio_cross_attention_dim": 2048,  # audio text context = connector audio_hidden_dim
    "audio_scale_factor": 4,
    "audio_pos_embed_max_pos": 20,
    "audio_sampling_rate": 16000,
    "audio_hop_length": 160,
    "audio_gated_attn": True,
    "audio_cross_attn_mod": True,
    "num_layers": 48,
    "activation_fn": "gelu-approximate",
    "qk_norm": "rms_norm_across_heads",
    "norm_elementwise_affine": False,
    "norm_eps": 1e-6,
    "caption_channels": 3840,  # Gemma 3 12B hidden size
    "attention_bias": True,
    "attention_out_bias": True,
    "rope_theta": 10000.0,
    "rope_double_precision": True,
    "causal_offset": 1,
    "timestep_scale_multiplier": 1000,
    "cross_attn_timestep_scale_multiplier": 1000,
    "rope_type": "split",
    "use_prompt_embeddings": False,  # 2.3 projects text in the connectors instead
    "perturbed_attn": True,  # STG skips self-attention in chosen blocks
}
PRESETS = {"ltx-2.3": LTX23_TRANSFORMER}
# Dense bf16 tensor-core peaks (no sparsity), TFLOP/s, from the vendors' datasheets. The H200 has the H100 SXM's
# compute (more and faster memory); the PCIe H100 runs fewer SMs at a lower clock.
# Dense bf16 peaks by the name fragment a CUDA device name carries (`torch.cuda.get_device_name`).
GPU_PEAK_TFLOPS = {
    "H100 SXM": GPUS["h100"].bf16_tflops,
    "H100 PCIe": GPUS["h100-pcie"].bf16_tflops,
    "H200": GPUS["h200"].bf16_tflops,
    "A100": GPUS["a100-80"].bf16_tflops,
}
TEXT_TOKENS = 1024
DEFAULT_FRAMES, DEFAULT_FPS = 89, 24.0
RANKS = (8, 16, 32, 64, 128)


def meta_transformer(preset: str = "ltx-2.3") -> torch.nn.Module:
    from diffusers import LTX2VideoTransformer3DModel

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {sorted(PRESETS)}")
    with torch.device("meta"):
        return LTX2VideoTransformer3DModel(**PRESETS[preset])


def model_info(
    preset: str = "ltx-2.3",
    frames: int = DEFAULT_FRAMES,
    fps: float = DEFAULT_FPS,
    flops_bucket: tuple[int, int] | None = (768, 768),
    rank: int = 32,
    with_audio: bool = False,
) -> dict[str, Any]:
    """Parameter counts, bf16 bytes, LoRA sizes per rank, tokens per bucket and FLOPs of one LoRA training step
    for the request's modalities (video-only, the request default, unless `with_audio`).

    `flops_bucket=None` skips the FLOP count (the slow part: about 30 s on a CPU).
    """
    from ltxcore.geometry import BUCKETS

    model = meta_transformer(preset)
    params = sum(p.numel() for p in model.parameters())
    blocks = sum(p.numel() for p in model.transformer_blocks.parameters())
    lora = {r: _lora_params(model, r, lora_targets()) for r in RANKS}
    lora_ff = {r: _lora_params(model, r, lora_targets(include_ff=True)) for r in RANKS}
    buckets = {}
    for (res, aspect), (w, h) in sorted(BUCKETS.items()):
        buckets[f"{res} {aspect} {w}x{h}"] = {
            "video_tokens": geometry.video_tokens(w, h, frames),
            "audio_tokens": geometry.audio_steps(frames / fps),
        }
    info = {
        "preset": preset,
        "transformer_params": params,
        "transformer_block_params": blocks,
        "transformer_bf16_bytes": params * 2,
        "lora_params_per_rank": lora,
        "lora_params_per_rank_with_ff": lora_ff,
        "lora_bf16_bytes_per_rank": {r: n * 2 for r, n in lora.items()},
        "tokens_per_bucket": buckets,
        "frames": frames,
        "fps": fps,
    }
    if flops_bucket is not None:
        info["train_step_flops"] = train_step_flops(
            model, preset, frames, fps, *flops_bucket, rank=rank, with_audio=with_audio
        )
    return info


def _lora_params(model: torch.nn.Module, rank: int, targets: list[str]) -> int:
    total = 0
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and any(name == t or name.endswith("." + t) for t in targets):
            total += rank * (module.in_features + module.out_features)
    return total


def train_step_flops(
    model: torch.nn.Module,
    preset: str,
    frames: int,
    fps: float,
    width: int,
    height: int,
    rank: int = 32,
    with_audio: bool = False,
) -> dict[str, Any]:
    """FLOPs of one batch-1 LoRA step, counted by torch's FlopCounterMode on the meta device (matmuls + attention).

    Backward covers activation gradients through the frozen base and LoRA weight gradients. These are the model
    FLOPs (MFU's numerator). Gradient checkpointing recomputes the forward of each checkpointed block: the hardware
    does `train_step + K * block_forward` (HFU's numerator); `utilisation` reports both.
    """
    from torch.utils.flop_counter import FlopCounterMode

    attach_lora(model, rank)
    lw, lh = geometry.latent_size(width, height)
    geo = VideoGeometry(geometry.latent_frames(frames), lh, lw, fps)
    steps = geometry.audio_steps(frames / fps)
    cfg = PRESETS[preset]
    meta = {"device": "meta", "dtype": torch.bfloat16}
    text = TextBatch(
        video=torch.zeros(1, TEXT_TOKENS, cfg["cross_attention_dim"], **meta),
        audio=torch.zeros(1, TEXT_TOKENS, cfg["audio_cross_attention_dim"], **meta),
        mask=torch.ones(1, TEXT_TOKENS, device="meta", dtype=torch.int64),
    )
    for name, p in model.named_parameters():  # bf16 base, fp32 LoRA, as in training
        if "lora_" not in name:
            p.data = p.data.to(torch.bfloat16)
    video = torch.zeros(1, geo.tokens, 128, **meta)
    audio = torch.zeros(1, steps, 128, **meta) if with_audio else None
    sig = torch.zeros(1, device="meta")
    counter = FlopCounterMode(display=False)
    with counter:
        v, a = predict_velocity(
            model,
            video,
            torch.zeros(1, geo.tokens, device="meta"),
            sig,
            text,
            geo,
            audio,
            torch.zeros(1, steps, device="meta") if with_audio else None,
            sig if with_audio else None,
        )
        forward = counter.get_total_flops()
        blocks_forward = _block_flops(counter, len(model.transformer_blocks))
        loss = v.float().square().mean() + (a.float().square().mean() if a is not None else 0)
        loss.backward()
    total = counter.get_total_flops()
    block_forward = blocks_forward // len(model.transformer_blocks)
    return {
        "bucket": f"{width}x{height}x{frames}@{fps:g}",
        "video_tokens": geo.tokens,
        "audio_tokens": steps if with_audio else 0,
        "text_tokens": TEXT_TOKENS,
        "with_audio": with_audio,
        "lora_rank": rank,
        "forward": forward,
        "block_forward": block_forward,
        "train_step": total,
        "train_step_with_checkpointing": total + len(model.transformer_blocks) * block_forward,
        "train_step_tflops": round(total / 1e12, 1),
        "h100_seconds_at_40pct_mfu": round(total / (0.4 * GPU_PEAK_TFLOPS["H100 SXM"] * 1e12), 2),
        "seconds_at_40pct_mfu": {gpu: round(total / (0.4 * peak * 1e12), 2) for gpu, peak in GPU_PEAK_TFLOPS.items()},
        "log10": round(math.log10(total), 2),
    }


def _block_flops(counter: Any, num_blocks: int) -> int:
    """Forward FLOPs inside the transformer blocks so far (FlopCounterMode counts per module path)."""
    counts = counter.get_flop_counts()
    names = [n for n in counts if n.rsplit(".", 2)[-2:-1] == ["transformer_blocks"] and n.rsplit(".", 1)[-1].isdigit()]
    assert len(names) == num_blocks, f"expected {num_blocks} block entries in the FLOP counts, got {len(names)}"
    return sum(sum(counts[n].values()) for n in names)


def utilisation(
    train_step_flops: int, block_forward_flops: int, checkpointed_blocks: int, seconds: float, peak_tflops: float
) -> dict[str, float]:
    """MFU (model FLOPs: forward + backward, what the step must compute) and HFU (hardware FLOPs: plus the forward
    recomputed for each checkpointed block) of a measured step, as fractions of the device's dense bf16 peak."""
    hardware = train_step_flops + checkpointed_blocks * block_forward_flops
    peak = peak_tflops * 1e12
    return {"mfu": round(train_step_flops / seconds / peak, 4), "hfu": round(hardware / seconds / peak, 4)}


def peak_tflops_of(device_name: str) -> float | None:
    """The dense bf16 peak of a CUDA device by its name (`torch.cuda.get_device_name`), None if unknown."""
    name = device_name.upper()
    if "H100" in name:
        return GPU_PEAK_TFLOPS["H100 PCIe" if "PCIE" in name else "H100 SXM"]
    return next((v for k, v in GPU_PEAK_TFLOPS.items() if k in name), None)


def step_flops(
    config: dict[str, Any],
    frames: int,
    fps: float,
    width: int,
    height: int,
    *,
    rank: int = 32,
    with_audio: bool = False,
) -> dict[str, Any]:
    """`train_step_flops` for a transformer `config` with any number of blocks, counted at 1 and 2 blocks.

    Every block is the same computation, so a step costs stem + L * block: counting two small meta models gives the
    L-block figure exactly (tested against the direct count) in seconds instead of a minute of meta-device tracing.
    """
    from diffusers import LTX2VideoTransformer3DModel

    layers = config["num_layers"]
    counts = []
    for n in (1, 2):
        cfg = {**config, "num_layers": n}
        name = f"_flops-{id(config)}-{n}"
        PRESETS[name] = cfg  # train_step_flops reads the text widths from the preset table
        try:
            with torch.device("meta"):
                model = LTX2VideoTransformer3DModel(**cfg)
            counts.append(train_step_flops(model, name, frames, fps, width, height, rank=rank, with_audio=with_audio))
        finally:
            del PRESETS[name]
    one, two = counts
    out = dict(two)
    for key in ("forward", "train_step"):
        out[key] = one[key] + (layers - 1) * (two[key] - one[key])
    out["block_forward"] = two["block_forward"]
    out["train_step_with_checkpointing"] = out["train_step"] + layers * out["block_forward"]
    out["train_step_tflops"] = round(out["train_step"] / 1e12, 1)
    out["h100_seconds_at_40pct_mfu"] = round(out["train_step"] / (0.4 * GPU_PEAK_TFLOPS["H100 SXM"] * 1e12), 2)
    out["seconds_at_40pct_mfu"] = {
        g: round(out["train_step"] / (0.4 * p * 1e12), 2) for g, p in GPU_PEAK_TFLOPS.items()
    }
    out["log10"] = round(math.log10(out["train_step"]), 2)
    return out


# Activations a transformer block keeps for backward, in token-wide bf16 tensors per token (norm outputs, q/k/v, the
# attention and cross-attention outputs, the 4x-wide feed-forward before and after GELU, gates). 44 is what
# bench/memory_tiers.py measured on one real block (2.34 GiB per block at 768x768x89 video-only, 6912 tokens x 4096
# wide in bf16 = 0.053 GiB a tensor); `ltxcore.train.memory.block_activation_bytes` measures it for any size.
SAVED_TENSORS_PER_BLOCK = 44


def train_memory_bytes(
    params: int,
    lora_params: int,
    video_tokens: int,
    audio_tokens: int,
    *,
    base_bytes: float,
    optimizer_bytes: int,
    checkpointing: bool,
    preset: str = "ltx-2.3",
) -> dict[str, int]:
    """Estimated GPU bytes of one batch-1 LoRA training step, by part (not measured; see SAVED_TENSORS_PER_BLOCK).

    `base_bytes` per frozen base parameter (2 bf16, 1 int8); LoRA weights and gradients are fp32 (8 bytes per
    parameter) plus `optimizer_bytes` of optimizer state (8 AdamW, 2 8-bit AdamW). With checkpointing every block
    keeps only its inputs and one block at a time is recomputed with its full activations.
    """
    cfg = PRESETS[preset]
    video_width = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    audio_width = cfg["audio_num_attention_heads"] * cfg["audio_attention_head_dim"]
    token_bytes = 2 * (video_tokens * video_width + audio_tokens * audio_width)  # one bf16 tensor over all tokens
    text_bytes = 2 * 2 * TEXT_TOKENS * (cfg["cross_attention_dim"] + cfg["audio_cross_attention_dim"])  # K and V
    per_block = SAVED_TENSORS_PER_BLOCK * token_bytes + text_bytes
    layers = cfg["num_layers"]
    activations = layers * token_bytes + 2 * per_block if checkpointing else layers * per_block
    return {
        "base_weights": int(params * base_bytes),
        "lora_weights_and_grads": lora_params * 8,
        "optimizer_state": lora_params * optimizer_bytes,
        "activations": int(activations),
    }
