"""The real LTX-2.3 transformer shapes with random weights, built directly on the target device: no download.

Step time, peak memory and MFU of a full-size LoRA step depend on the shapes, not on the values, so a benchmark can
measure them on any lent GPU without the 35 GiB checkpoint. The model is created on the meta device (no memory),
materialised with `to_empty` on the device in the target dtype (bf16: 35.4 GiB at full size, never an fp32 copy),
then filled from a seeded generator on that device. `shrink` keeps the per-head shapes and the block structure but
fewer heads and layers, so the same path runs on a CPU in a test.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ltxcore.model.info import PRESETS


def shrink(preset: str = "ltx-2.3", *, heads: int, layers: int) -> dict[str, Any]:
    """`preset`'s config with `heads` attention heads per stream and `layers` blocks (head dims kept: 128 / 64)."""
    cfg = dict(_preset(preset))
    cfg["num_attention_heads"] = cfg["audio_num_attention_heads"] = heads
    cfg["cross_attention_dim"] = heads * cfg["attention_head_dim"]  # the text context matches the stream width
    cfg["audio_cross_attention_dim"] = heads * cfg["audio_attention_head_dim"]
    cfg["num_layers"] = layers
    return cfg


def random_transformer(
    config: dict[str, Any] | str = "ltx-2.3",
    *,
    device: str | torch.device,
    dtype: torch.dtype = torch.bfloat16,
    seed: int = 0,
) -> torch.nn.Module:
    """An `LTX2VideoTransformer3DModel` of `config` (a preset name or a config dict) with random weights on `device`.

    Linear weights ~ N(0, 1/fan_in) (activations keep unit scale through 48 blocks), biases 0, norm weights 1, other
    tables ~ N(0, 1/width). Frozen (requires_grad False) and in eval mode, as the loader returns real weights.
    """
    from diffusers import LTX2VideoTransformer3DModel

    cfg = _preset(config) if isinstance(config, str) else config
    with torch.device("meta"):
        model = LTX2VideoTransformer3DModel(**cfg)
        torch.nn.Module.to(model, dtype=dtype)  # nn.Module's own `to`: diffusers' override warns about fp32 modules
    model = model.to_empty(device=device)  # uninitialised storage, allocated once, already in `dtype`
    if torch.device(device).type != "meta":  # the meta device holds shapes only (model-info's accounting)
        gen = torch.Generator(device=torch.device(device)).manual_seed(seed)
        with torch.no_grad():
            for name, p in model.named_parameters():
                _fill(name, p, gen)
    model.requires_grad_(False)
    return model.eval()


def _fill(name: str, p: torch.Tensor, gen: torch.Generator) -> None:
    if name.endswith("bias"):
        p.zero_()
    elif p.ndim == 1:  # RMSNorm / LayerNorm scales
        p.fill_(1.0)
    elif p.ndim == 2 and not name.endswith("table"):  # Linear weight [out, in]
        p.normal_(0.0, 1.0 / math.sqrt(p.shape[1]), generator=gen)
    else:  # AdaLN scale-shift tables [k, width] and the like
        p.normal_(0.0, 1.0 / math.sqrt(p.shape[-1]), generator=gen)


def _preset(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {sorted(PRESETS)}")
    return PRESETS[name]
