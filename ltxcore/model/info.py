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
from ltxcore.model.lora import attach_lora, lora_targets

LTX23_TRANSFORMER: dict[str, Any] = {
    "in_channels": 128, "out_channels": 128,  # 128 video latent channels (video VAE)
    "patch_size": 1, "patch_size_t": 1,  # tokens are latent voxels
    "num_attention_heads": 32, "attention_head_dim": 128,  # video width 4096
    "cross_attention_dim": 4096,  # video text context = connector video_hidden_dim
    "vae_scale_factors": (8, 32, 32), "pos_embed_max_pos": 20, "base_height": 2048, "base_width": 2048,
    "gated_attn": True, "cross_attn_mod": True,  # 2.3: per-head attention gates, text cross-attention AdaLN
    "audio_in_channels": 128, "audio_out_channels": 128,  # 8 latent channels x 16 mel bins
    "audio_patch_size": 1, "audio_patch_size_t": 1,
    "audio_num_attention_heads": 32, "audio_attention_head_dim": 64,  # audio width 2048
    "audio_cross_attention_dim": 2048,  # audio text context = connector audio_hidden_dim
    "audio_scale_factor": 4, "audio_pos_embed_max_pos": 20, "audio_sampling_rate": 16000, "audio_hop_length": 160,
    "audio_gated_attn": True, "audio_cross_attn_mod": True,
    "num_layers": 48,
    "activation_fn": "gelu-approximate", "qk_norm": "rms_norm_across_heads", "norm_elementwise_affine": False,
    "norm_eps": 1e-6, "caption_channels": 3840,  # Gemma 3 12B hidden size
    "attention_bias": True, "attention_out_bias": True, "rope_theta": 10000.0, "rope_double_precision": True,
    "causal_offset": 1, "timestep_scale_multiplier": 1000, "cross_attn_timestep_scale_multiplier": 1000,
    "rope_type": "split", "use_prompt_embeddings": False,  # 2.3 projects text in the connectors instead
    "perturbed_attn": True,  # STG skips self-attention in chosen blocks
}
PRESETS = {"ltx-2.3": LTX23_TRANSFORMER}
TEXT_TOKENS = 1024
DEFAULT_FRAMES, DEFAULT_FPS = 89, 24.0
RANKS = (8, 16, 32, 64, 128)


def meta_transformer(preset: str = "ltx-2.3") -> torch.nn.Module:
    from diffusers import LTX2VideoTransformer3DModel

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {sorted(PRESETS)}")
    with torch.device("meta"):
        return LTX2VideoTransformer3DModel(**PRESETS[preset])


def model_info(preset: str = "ltx-2.3", frames: int = DEFAULT_FRAMES, fps: float = DEFAULT_FPS,
               flops_bucket: tuple[int, int] | None = (768, 768), rank: int = 32) -> dict[str, Any]:
    """Parameter counts, bf16 bytes, LoRA sizes per rank, tokens per bucket and FLOPs of one LoRA training step.

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
        info["train_step_flops"] = train_step_flops(model, preset, frames, fps, *flops_bucket, rank=rank)
    return info


def _lora_params(model: torch.nn.Module, rank: int, targets: list[str]) -> int:
    total = 0
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and any(name == t or name.endswith("." + t) for t in targets):
            total += rank * (module.in_features + module.out_features)
    return total


def train_step_flops(model: torch.nn.Module, preset: str, frames: int, fps: float, width: int, height: int,
                     rank: int = 32, with_audio: bool = True) -> dict[str, Any]:
    """FLOPs of one batch-1 LoRA step, counted by torch's FlopCounterMode on the meta device (matmuls + attention).

    Backward covers activation gradients through the frozen base and LoRA weight gradients; gradient checkpointing
    adds one more forward, reported separately.
    """
    from torch.utils.flop_counter import FlopCounterMode

    attach_lora(model, rank)
    lw, lh = geometry.latent_size(width, height)
    geo = VideoGeometry(geometry.latent_frames(frames), lh, lw, fps)
    steps = geometry.audio_steps(frames / fps)
    cfg = PRESETS[preset]
    meta = {"device": "meta", "dtype": torch.bfloat16}
    text = TextBatch(video=torch.zeros(1, TEXT_TOKENS, cfg["cross_attention_dim"], **meta),
                     audio=torch.zeros(1, TEXT_TOKENS, cfg["audio_cross_attention_dim"], **meta),
                     mask=torch.ones(1, TEXT_TOKENS, device="meta", dtype=torch.int64))
    for name, p in model.named_parameters():  # bf16 base, fp32 LoRA, as in training
        if "lora_" not in name:
            p.data = p.data.to(torch.bfloat16)
    video = torch.zeros(1, geo.tokens, 128, **meta)
    audio = torch.zeros(1, steps, 128, **meta) if with_audio else None
    sig = torch.zeros(1, device="meta")
    counter = FlopCounterMode(display=False)
    with counter:
        v, a = predict_velocity(model, video, torch.zeros(1, geo.tokens, device="meta"), sig, text, geo, audio,
                                torch.zeros(1, steps, device="meta") if with_audio else None,
                                sig if with_audio else None)
        forward = counter.get_total_flops()
        loss = v.float().square().mean() + (a.float().square().mean() if a is not None else 0)
        loss.backward()
    total = counter.get_total_flops()
    return {
        "bucket": f"{width}x{height}x{frames}@{fps:g}",
        "video_tokens": geo.tokens, "audio_tokens": steps if with_audio else 0, "text_tokens": TEXT_TOKENS,
        "lora_rank": rank,
        "forward": forward,
        "train_step": total,
        "train_step_with_checkpointing": total + forward,
        "train_step_tflops": round(total / 1e12, 1),
        "h100_seconds_at_40pct_mfu": round(total / (0.4 * 989e12), 2),  # 989 TFLOP/s dense bf16, H100 SXM
        "log10": round(math.log10(total), 2),
    }


# Activations a transformer block keeps for backward, in token-wide bf16 tensors per token (norm outputs, q/k/v, the
# attention and cross-attention outputs, the 4x-wide feed-forward before and after GELU, gates): an estimate, about
# 20, which gives the ~50 GiB without checkpointing at 768x768x89 that the README's memory table started from.
SAVED_TENSORS_PER_BLOCK = 20


def train_memory_bytes(params: int, lora_params: int, video_tokens: int, audio_tokens: int, *, base_bytes: float,
                       optimizer_bytes: int, checkpointing: bool, preset: str = "ltx-2.3") -> dict[str, int]:
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
