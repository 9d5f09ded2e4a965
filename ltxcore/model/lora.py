"""LoRA on the transformer: attach (peft), save in the official / ComfyUI format, load back, describe.

File format (official ltx-trainer `_save_checkpoint`, read by ComfyUI and by diffusers' `LTX2LoraLoaderMixin`):
safetensors, bf16, keys `diffusion_model.<module>.lora_A.weight` / `.lora_B.weight`, no alpha tensors and no metadata
about rank or alpha. No consumer applies an alpha (they fuse strength * B @ A; diffusers assumes alpha = rank), so an
adapter trained with alpha != rank has alpha / rank folded into lora_B when saved.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import safetensors
import safetensors.torch
import torch

PREFIX = "diffusion_model."
ATTENTION_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
# peft matches a target as a dotted suffix, so "ff.net.2" would miss "audio_ff.net.2": name both streams.
FF_TARGETS = ("ff.net.0.proj", "ff.net.2", "audio_ff.net.0.proj", "audio_ff.net.2")
ADAPTER = "default"
TRAINING_TYPE = "extend-suffix"
MERGED_ATTR = "_extend_suffix_merged_lora"  # set on a transformer by merge_lora: which file is in its weights
# diffusers module names that ComfyUI and ltx-core call otherwise (diffusers' conversion tables: patchify_proj,
# adaln_single, prompt_adaln_single, av_ca_*_adaln_single, q_norm/k_norm). A `diffusion_model.` key under one of these
# names matches nothing there and is dropped without a word, so an adapter on such a module is refused.
DIFFUSERS_ONLY_MODULES = frozenset(
    {
        "proj_in",
        "audio_proj_in",
        "time_embed",
        "audio_time_embed",
        "prompt_adaln",
        "audio_prompt_adaln",
        "av_cross_attn_video_scale_shift",
        "av_cross_attn_video_a2v_gate",
        "av_cross_attn_audio_scale_shift",
        "av_cross_attn_audio_v2a_gate",
        "norm_q",
        "norm_k",
    }
)


def lora_targets(include_ff: bool = False) -> list[str]:
    """Video and audio self-, text cross- and audio-video attention projections (and the feed-forwards)."""
    return [*ATTENTION_TARGETS, *(FF_TARGETS if include_ff else ())]


def attach_lora(
    transformer: torch.nn.Module, rank: int, targets: Sequence[str] | None = None, alpha: float | None = None
) -> list[torch.nn.Parameter]:
    """Add a fresh LoRA adapter (B = 0, so the output is unchanged) and freeze everything else.

    Returns the trainable parameters (fp32, whatever the base dtype: peft creates them that way here).
    """
    from peft import LoraConfig

    if rank < 1:
        raise ValueError(f"LoRA rank must be >= 1 (got {rank})")
    check_portable_targets(transformer, targets or lora_targets())
    config = LoraConfig(
        r=rank,
        lora_alpha=alpha if alpha is not None else rank,
        target_modules=list(targets or lora_targets()),
        init_lora_weights=True,
    )
    transformer.requires_grad_(False)
    transformer.add_adapter(config, adapter_name=ADAPTER)
    params = [p for n, p in transformer.named_parameters() if "lora_" in n]
    for p in params:
        p.data = p.data.float()
        p.requires_grad_(True)
    assert params, f"no module matched the LoRA targets {config.target_modules}"
    return params


def check_portable_targets(transformer: torch.nn.Module, targets: Sequence[str]) -> None:
    """Refuse targets that reach a module ComfyUI and ltx-core name differently (their keys would be dropped there).

    Matching is peft's for a list of targets: a module matches when its name is the target or ends in "." + target.
    """
    for name, _ in transformer.named_modules():
        target = next((t for t in targets if name == t or name.endswith("." + t)), None)
        if target is None:
            continue
        foreign = DIFFUSERS_ONLY_MODULES.intersection(name.split("."))
        if foreign:
            raise ValueError(
                f"LoRA target {target!r} reaches {name}, whose name ({sorted(foreign)[0]}) exists only in diffusers: "
                "ComfyUI and the official LTX-2 loader would silently drop its adapter. Target the attention or "
                "feed-forward modules inside transformer_blocks (or proj_out) instead."
            )


def lora_state_dict(transformer: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The adapter in the official format: `diffusion_model.` keys, bf16, alpha folded into lora_B."""
    from peft.utils import get_peft_model_state_dict

    config = transformer.peft_config[ADAPTER]
    scale = config.lora_alpha / config.r
    out = {}
    for key, value in get_peft_model_state_dict(transformer, adapter_name=ADAPTER).items():
        if ".lora_B." in key and scale != 1.0:
            value = value.float() * scale
        out[PREFIX + key] = value.detach().to("cpu", torch.bfloat16).contiguous()
    return out


def save_lora(transformer: torch.nn.Module, path: str | Path) -> Path:
    """Write the adapter to `path` (a .safetensors file), atomically."""
    from ltxcore.store.atomic import atomic_write_bytes

    path = Path(path)
    atomic_write_bytes(path, safetensors.torch.save(lora_state_dict(transformer), metadata={"format": "pt"}))
    return path


def load_lora(transformer: torch.nn.Module, path: str | Path) -> None:
    """Load a `diffusion_model.`-format file into the transformer as adapter "default" (alpha = rank)."""
    from peft.utils import set_peft_model_state_dict

    try:
        inspect_lora(Path(path))  # the format's rules, from the header, before any tensor is read
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    raw = safetensors.torch.load_file(str(path))
    state = {k.removeprefix(PREFIX): v for k, v in raw.items()}
    ranks = {v.shape[0] for k, v in state.items() if ".lora_A." in k}  # one rank: inspect_lora checked
    modules = sorted({re.sub(r"\.lora_[AB]\.weight$", "", k) for k in state})
    if ADAPTER not in getattr(transformer, "peft_config", {}):
        attach_lora(transformer, rank=ranks.pop(), targets=modules)
    result = set_peft_model_state_dict(transformer, state, adapter_name=ADAPTER)
    unexpected = getattr(result, "unexpected_keys", [])
    if unexpected:
        raise ValueError(f"{path}: {len(unexpected)} keys match no module, e.g. {unexpected[0]}")


def merge_lora(transformer: torch.nn.Module, path: str | Path) -> int:
    """Load the LoRA file and fold it into the weights (W <- W + B A): the transformer then has the base model's
    layers and speed, the way ltx-core and ComfyUI apply a LoRA for inference. Returns the layers merged.

    Irreversible, so only for a transformer loaded for inference, and once: a second merge is refused rather than
    stacking two LoRAs by accident."""
    from peft.tuners.lora import LoraLayer

    if getattr(transformer, MERGED_ATTR, None) is not None:
        raise ValueError(f"{getattr(transformer, MERGED_ATTR)} is already merged into this transformer")
    load_lora(transformer, path)
    layers = [(name, m) for name, m in transformer.named_modules() if isinstance(m, LoraLayer)]
    for name, layer in layers:
        layer.merge(adapter_names=[ADAPTER])
        parent, _, child = name.rpartition(".")
        setattr(transformer.get_submodule(parent), child, layer.get_base_layer())  # the plain Linear, merged
    del transformer.peft_config
    transformer._hf_peft_config_loaded = False  # diffusers' flag: the model holds no adapter now
    setattr(transformer, MERGED_ATTR, str(path))
    return len(layers)


def lora_config(
    *,
    trigger_phrase: str,
    rank: int,
    targets: Sequence[str],
    conditioning_frames: int,
    num_frames: int,
    frame_rate: float,
    width: int,
    height: int,
    with_audio: bool,
    base_model: str,
    alpha: float | None = None,
) -> dict:
    """The endpoint's `config_file` content: how the LoRA was trained and how to use it."""
    return {
        "training_type": TRAINING_TYPE,
        "trigger_phrase": trigger_phrase,
        "base_model": base_model,
        "lora": {
            "rank": rank,
            "alpha": alpha if alpha is not None else rank,
            "targets": list(targets),
            "format": "diffusion_model.<module>.lora_A/B.weight, bf16 (ComfyUI / LTX-2 trainer)",
            "alpha_folded_into_lora_B": alpha is not None and alpha != rank,
        },
        "conditioning_frames": conditioning_frames,
        "frames": {"num_frames": num_frames, "frame_rate": frame_rate, "width": width, "height": height},
        "with_audio": with_audio,
    }


METADATA_KEY = "extend_suffix"


def read_metadata(path: Path) -> dict[str, object]:
    with safetensors.safe_open(str(path), "pt") as f:
        return json.loads((f.metadata() or {})[METADATA_KEY])


def inspect_lora(path: Path) -> dict[str, object]:
    """Check that `path` is a LoRA file in this format without loading its tensors (safetensors reads the header
    only), and return its training metadata ({} for a file made elsewhere). ValueError, in words a person can act
    on, for anything else: not safetensors, no tensors, keys that are not `diffusion_model.<module>.lora_[AB].weight`,
    mixed ranks, metadata that is not a JSON object."""
    try:
        with safetensors.safe_open(str(path), "pt") as f:
            keys = list(f.keys())
            raw = (f.metadata() or {}).get(METADATA_KEY)
            ranks = {f.get_slice(k).get_shape()[0] for k in keys if k.endswith(".lora_A.weight")}
    except (OSError, ValueError, safetensors.SafetensorError) as exc:  # what safetensors raises on a bad header
        raise ValueError(f"not a readable safetensors file ({str(exc)[:120]})") from None
    if not keys:
        raise ValueError("the file holds no tensors")
    foreign = [k for k in keys if not re.fullmatch(rf"{re.escape(PREFIX)}[\w.]+\.lora_[AB]\.weight", k)]
    if foreign:
        raise ValueError(
            f"{len(foreign)} of its {len(keys)} tensors are not LoRA weights in the diffusion_model.* format, "
            f"e.g. {foreign[0][:80]!r}"
        )
    if len(ranks) != 1:
        raise ValueError(f"its LoRA layers have mixed ranks {sorted(ranks)}")
    if raw is None:
        return {}
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError:
        meta = None
    if not isinstance(meta, dict):
        raise ValueError(f"its {METADATA_KEY!r} metadata is not a JSON object")
    return meta
