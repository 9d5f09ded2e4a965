"""The official implementation (ltx-core 1.0.0) as a test oracle: a twin of a diffusers transformer, same weights.

Version caveat, applied here and only here: ltx-core 1.0.0 (the only release in the registry) still drives the
audio-video cross-attention scale-shift with the OTHER modality's sigma. Lightricks changed that in ltx-core 1.1.4
(Lightricks/LTX-2 commit 203d484, May 2026; ComfyUI made the same change): each modality's scale-shift takes its own
per-token timesteps and the gate keeps the other modality's sigma. The project follows the newer behaviour, so
`own_timestep_scale_shift` applies exactly that one change to a 1.0.0 model; a separate test shows that unpatched
1.0.0 equals diffusers' `use_cross_timestep=True` path, so the adjustment cannot hide any other difference.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from ltx_core.components.patchifiers import AudioPatchifier, VideoLatentPatchifier
from ltx_core.guidance.perturbations import BatchedPerturbationConfig
from ltx_core.model.transformer.modality import Modality
from ltx_core.model.transformer.model import LTXModel
from ltx_core.model.transformer.model_configurator import LTXModelConfigurator
from ltx_core.tools import AudioLatentTools, VideoLatentTools
from ltx_core.types import AudioLatentShape, VideoLatentShape

from ltxcore.model.forward import AUDIO_MEL_BINS, TextBatch, VideoGeometry
from ltxcore.model.tiny import TRANSFORMER
from tests.parity.names import official_state_dict

AUDIO_CHANNELS = 8
# The tiny preset's transformer: 2.3's switches (gated attention, prompt AdaLN, split RoPE, no caption projection,
# perturbed_attn for STG) at toy widths, two blocks.
CONFIG: dict[str, Any] = dict(TRANSFORMER)


def seeded_diffusers_transformer(config: dict[str, Any], seed: int) -> torch.nn.Module:
    """A diffusers `LTX2VideoTransformer3DModel` with EVERY parameter drawn from a seeded generator (biases and the
    zero-initialised gates included, so that no weight can be ignored by one side unnoticed). fp32, eval."""
    from diffusers import LTX2VideoTransformer3DModel

    model = LTX2VideoTransformer3DModel(**config)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[-1])  # unit-scale activations
            p.copy_(noise * 0.3 + 1.0 if p.ndim == 1 and "norm" in name else noise)
    return model.requires_grad_(False).eval()


def official_config(diffusers_model: torch.nn.Module) -> dict[str, Any]:
    """The official checkpoint config (`{"transformer": ...}`, what `LTXModelConfigurator.from_config` reads from a
    checkpoint's metadata) equivalent to a diffusers transformer's config."""
    c = diffusers_model.config
    assert c.gated_attn == c.audio_gated_attn and c.cross_attn_mod == c.audio_cross_attn_mod, "one switch officially"
    assert not c.use_prompt_embeddings, "2.3 projects the text in the connectors (no caption projection here)"
    fixed = dict(  # the values the official configurator insists on (it checks each one)
        dropout=0.0,
        attention_bias=True,
        activation_fn="gelu-approximate",
        num_embeds_ada_norm=1000,
        use_linear_projection=False,
        only_cross_attention=False,
        cross_attention_norm=True,
        double_self_attention=False,
        upcast_attention=False,
        standardization_norm="rms_norm",
        norm_elementwise_affine=False,
        qk_norm="rms_norm",
        positional_embedding_type="rope",
        use_audio_video_cross_attention=True,
        share_ff=False,
        av_cross_ada_norm=True,
        use_middle_indices_grid=True,
    )
    return {
        "transformer": fixed
        | dict(
            num_attention_heads=c.num_attention_heads,
            attention_head_dim=c.attention_head_dim,
            in_channels=c.in_channels,
            out_channels=c.out_channels,
            num_layers=c.num_layers,
            cross_attention_dim=c.cross_attention_dim,
            norm_eps=c.norm_eps,
            positional_embedding_theta=c.rope_theta,
            positional_embedding_max_pos=[c.pos_embed_max_pos, c.base_height, c.base_width],
            timestep_scale_multiplier=c.timestep_scale_multiplier,
            audio_num_attention_heads=c.audio_num_attention_heads,
            audio_attention_head_dim=c.audio_attention_head_dim,
            audio_in_channels=c.audio_in_channels,
            audio_out_channels=c.audio_out_channels,
            audio_cross_attention_dim=c.audio_cross_attention_dim,
            audio_positional_embedding_max_pos=[c.audio_pos_embed_max_pos],
            av_ca_timestep_scale_multiplier=c.cross_attn_timestep_scale_multiplier,
            rope_type=c.rope_type,
            frequencies_precision="float64" if c.rope_double_precision else "float32",
            apply_gated_attention=c.gated_attn,
            cross_attention_adaln=c.cross_attn_mod,
            caption_proj_before_connector=True,  # 2.3: no caption projection inside the transformer
        )
    }


def official_twin(diffusers_model: torch.nn.Module, *, newer_cross_timestep: bool = True) -> LTXModel:
    """The official `LTXModel`, built by its configurator, with the diffusers model's weights (strict load).

    `newer_cross_timestep`: apply the ltx-core 1.1.4 scale-shift change (see the module doc); False: 1.0.0 as shipped.
    """
    model = LTXModelConfigurator.from_config(official_config(diffusers_model))
    result = model.load_state_dict(official_state_dict(diffusers_model), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    if newer_cross_timestep:
        own_timestep_scale_shift(model)
    return model.requires_grad_(False).eval()


def write_official_checkpoint(diffusers_model: torch.nn.Module, path: Path) -> Path:
    """The diffusers model's weights as an official bf16 checkpoint: official names, config in the metadata."""
    tensors = {k: v.to(torch.bfloat16).contiguous() for k, v in official_state_dict(diffusers_model).items()}
    safetensors.torch.save_file(tensors, str(path), metadata={"config": json.dumps(official_config(diffusers_model))})
    return path


def own_timestep_scale_shift(model: LTXModel) -> None:
    """The ltx-core 1.1.4 change on a 1.0.0 model: the a2v/v2a scale-shift embeds the modality's OWN per-token
    timesteps; everything else 1.0.0 computes (the gate from the other modality's sigma included) is kept."""
    for pre in (model.video_args_preprocessor, model.audio_args_preprocessor):
        pre.prepare = _own_scale_shift(pre)


def _own_scale_shift(pre: Any):
    shipped = pre.prepare

    def prepare(modality: Modality, cross_modality: Modality | None = None):
        args = shipped(modality, cross_modality)
        if cross_modality is None:
            return args
        scale = pre.simple_preprocessor.timestep_scale_multiplier
        emb, _ = pre.cross_scale_shift_adaln((modality.timesteps * scale).flatten(), hidden_dtype=modality.latent.dtype)
        return replace(args, cross_scale_shift_timestep=emb.view(args.x.shape[0], -1, emb.shape[-1]))  # [B, N, k*D]

    return prepare


def video_positions(batch: int, geometry: VideoGeometry) -> torch.Tensor:
    """Official video RoPE bounds [B, 3, N, 2]: pixel coordinates, causal fix, time in seconds."""
    shape = VideoLatentShape(batch, 128, geometry.frames, geometry.height, geometry.width)
    tools = VideoLatentTools(VideoLatentPatchifier(1), shape, geometry.fps)
    return tools.create_initial_state("cpu", torch.float32).positions


def audio_positions(batch: int, steps: int) -> torch.Tensor:
    """Official audio RoPE bounds [B, 1, T, 2] (seconds) from the official audio patchifier."""
    tools = AudioLatentTools(AudioPatchifier(1), AudioLatentShape(batch, AUDIO_CHANNELS, steps, AUDIO_MEL_BINS))
    return tools.create_initial_state("cpu", torch.float32).positions


def official_velocity(
    model: LTXModel,
    video: torch.Tensor,
    video_sigmas: torch.Tensor,
    sigma: torch.Tensor,
    text: TextBatch,
    geometry: VideoGeometry,
    audio: torch.Tensor | None = None,
    audio_sigmas: torch.Tensor | None = None,
    audio_sigma: torch.Tensor | None = None,
    perturbations: BatchedPerturbationConfig | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The official model's velocities for the same arguments as `ltxcore.model.forward.predict_velocity` (sigmas in
    [0, 1]: the official model multiplies by 1000 itself). audio None: the official video-only call (audio=None)."""
    b = video.shape[0]
    v = Modality(
        latent=video,
        sigma=sigma,
        timesteps=video_sigmas,
        positions=video_positions(b, geometry),
        context=text.video,
        context_mask=text.mask,
    )
    a = None
    if audio is not None:
        a = Modality(
            latent=audio,
            sigma=audio_sigma,
            timesteps=audio_sigmas,
            positions=audio_positions(b, audio.shape[1]),
            context=text.audio,
            context_mask=text.mask,
        )
    with torch.no_grad():
        return model(v, a, perturbations or BatchedPerturbationConfig.empty(b))


@dataclass(frozen=True)
class Case:
    """Seeded inputs of one transformer call: a clean suffix at sigma 0 in both modalities, independent sigmas."""

    video: torch.Tensor  # [B, Nv, 128]
    video_sigmas: torch.Tensor  # [B, Nv]
    sigma: torch.Tensor  # [B]
    audio: torch.Tensor  # [B, Na, 128]
    audio_sigmas: torch.Tensor  # [B, Na]
    audio_sigma: torch.Tensor  # [B]
    text: TextBatch
    geometry: VideoGeometry


def suffix_case(
    config: dict[str, Any],
    seed: int = 7,
    *,
    batch: int = 2,
    suffix_frames: int = 1,
    audio_steps: int = 13,
    audio_suffix: int = 4,
) -> Case:
    """3 latent frames of 2x2 tokens at 24 fps (the last `suffix_frames` clean), 13 audio steps (the last 4 clean)."""
    gen = torch.Generator().manual_seed(seed)
    geo = VideoGeometry(frames=3, height=2, width=2, fps=24.0)
    sigma = torch.rand(batch, generator=gen) * 0.8 + 0.1  # [B]
    audio_sigma = torch.rand(batch, generator=gen) * 0.8 + 0.1  # [B], drawn independently
    video_sigmas = sigma[:, None].repeat(1, geo.tokens)  # [B, Nv]
    video_sigmas[:, -suffix_frames * geo.height * geo.width :] = 0.0
    audio_sigmas = audio_sigma[:, None].repeat(1, audio_steps)  # [B, Na]
    audio_sigmas[:, -audio_suffix:] = 0.0
    text_len = 16
    mask = torch.ones(batch, text_len, dtype=torch.int64)
    mask[0, :5] = 0  # left padding on one row
    text = TextBatch(
        video=torch.randn(batch, text_len, config["cross_attention_dim"], generator=gen),
        audio=torch.randn(batch, text_len, config["audio_cross_attention_dim"], generator=gen),
        mask=mask,
    )
    return Case(
        video=torch.randn(batch, geo.tokens, 128, generator=gen),
        video_sigmas=video_sigmas,
        sigma=sigma,
        audio=torch.randn(batch, audio_steps, 128, generator=gen),
        audio_sigmas=audio_sigmas,
        audio_sigma=audio_sigma,
        text=text,
        geometry=geo,
    )
