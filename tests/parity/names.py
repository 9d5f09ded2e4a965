"""The one rename map between diffusers' `LTX2VideoTransformer3DModel` and the official `LTXModel` (ltx-core).

Facts from diffusers' own conversion script (`scripts/convert_ltx2_to_diffusers.py`, its LTX-2.0 rename dict, the
2.3 additions for the prompt AdaLN, and the `adaln_single` special case): every name below is one dotted segment of a
parameter key, so the map is a bijection on segments and its inverse is exact. Everything else (each Linear inside
`transformer_blocks.N`, the output tables) has the same name on both sides.
"""

from __future__ import annotations

import torch

# official segment -> diffusers segment
OFFICIAL_TO_DIFFUSERS: dict[str, str] = {
    "patchify_proj": "proj_in",
    "audio_patchify_proj": "audio_proj_in",
    "adaln_single": "time_embed",
    "audio_adaln_single": "audio_time_embed",
    "prompt_adaln_single": "prompt_adaln",
    "audio_prompt_adaln_single": "audio_prompt_adaln",
    "av_ca_video_scale_shift_adaln_single": "av_cross_attn_video_scale_shift",
    "av_ca_a2v_gate_adaln_single": "av_cross_attn_video_a2v_gate",
    "av_ca_audio_scale_shift_adaln_single": "av_cross_attn_audio_scale_shift",
    "av_ca_v2a_gate_adaln_single": "av_cross_attn_audio_v2a_gate",
    "scale_shift_table_a2v_ca_video": "video_a2v_cross_attn_scale_shift_table",
    "scale_shift_table_a2v_ca_audio": "audio_a2v_cross_attn_scale_shift_table",
    "q_norm": "norm_q",
    "k_norm": "norm_k",
}
DIFFUSERS_TO_OFFICIAL: dict[str, str] = {v: k for k, v in OFFICIAL_TO_DIFFUSERS.items()}
assert len(DIFFUSERS_TO_OFFICIAL) == len(OFFICIAL_TO_DIFFUSERS), "the map must be one-to-one"


def to_official(key: str) -> str:
    """`time_embed.linear.weight` -> `adaln_single.linear.weight` (works for LoRA keys too)."""
    return ".".join(DIFFUSERS_TO_OFFICIAL.get(s, s) for s in key.split("."))


def to_diffusers(key: str) -> str:
    return ".".join(OFFICIAL_TO_DIFFUSERS.get(s, s) for s in key.split("."))


def official_state_dict(diffusers_model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A diffusers transformer's weights under the official names."""
    return {to_official(k): v for k, v in diffusers_model.state_dict().items()}
