"""The LoRA file the training stage writes, applied by the official loader (its ComfyUI prefix map, fused into an
official bf16 checkpoint) against diffusers' `load_lora_weights` on the same base: same velocity, every key used."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import safetensors.torch
import torch
from ltx_core.loader import LTXV_LORA_COMFY_RENAMING_MAP, SingleGPUModelBuilder
from ltx_core.model.transformer.model_configurator import LTXModelConfigurator

from ltxcore.model.forward import predict_velocity
from ltxcore.model.lora import ATTENTION_TARGETS, DIFFUSERS_ONLY_MODULES, FF_TARGETS, check_portable_targets
from ltxcore.train.adapters import attach_lora, lora_parameters, save_lora_file
from tests.parity.names import DIFFUSERS_TO_OFFICIAL, official_state_dict
from tests.parity.oracle import (
    CONFIG,
    Case,
    official_velocity,
    own_timestep_scale_shift,
    seeded_diffusers_transformer,
    write_official_checkpoint,
)

TARGETS = (*ATTENTION_TARGETS, *FF_TARGETS, "proj_out", "audio_proj_out")  # every target the official side names


def bf16_base() -> torch.nn.Module:
    """Seeded weights rounded to bf16 values (kept in fp32), so the official bf16 checkpoint holds exactly them."""
    model = seeded_diffusers_transformer(CONFIG, seed=11)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    return model


def trained_lora_file(base: torch.nn.Module, path: Path, targets: tuple[str, ...] = TARGETS) -> Path:
    """The training stage's file for an adapter whose lora_B is no longer zero (as after some steps)."""
    model = copy.deepcopy(base)
    attach_lora(model, rank=4, targets=targets, seed=0)
    trained = lora_parameters(model, with_audio=True)
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name, p in trained.items():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    save_lora_file(path, model, trained, metadata={"rank": 4})
    return path


def official_with_lora(base: torch.nn.Module, lora: Path, tmp: Path) -> torch.nn.Module:
    builder = SingleGPUModelBuilder(
        model_class_configurator=LTXModelConfigurator,
        model_path=str(write_official_checkpoint(base, tmp / "base.safetensors")),
    )
    model = builder.lora(str(lora), 1.0, LTXV_LORA_COMFY_RENAMING_MAP).build(
        device=torch.device("cpu"), dtype=torch.float32
    )
    # The fuse leaves weights without a LoRA in the checkpoint's bf16 (exact in fp32) and writes fused ones in fp32.
    model = model.float()
    own_timestep_scale_shift(model)  # the 1.1.4 change, as for every comparison (oracle.py)
    return model.requires_grad_(False).eval()


def consumed_keys(lora: Path, official_keys: set[str]) -> tuple[set[str], set[str]]:
    """Which file keys the official fuse uses: `diffusion_model.<m>.lora_A/B.weight` onto `<m>.weight`."""
    keys = set(safetensors.torch.load_file(str(lora)))
    used = {
        k
        for k in keys
        if LTXV_LORA_COMFY_RENAMING_MAP.apply_to_key(k).rsplit(".lora_", 1)[0] + ".weight" in official_keys
    }
    return used, keys - used


def test_the_official_loader_applies_our_lora_file_like_diffusers_and_uses_every_key(
    case: Case, tmp_path: Path
) -> None:
    from diffusers import LTX2Pipeline

    base = bf16_base()
    lora = trained_lora_file(base, tmp_path / "lora.safetensors")
    official = official_with_lora(base, lora, tmp_path)
    used, dropped = consumed_keys(lora, set(official.state_dict()))
    assert not dropped and len(used) == 2 * (2 * 28 + 2)  # A and B of 28 adapters per block (2 blocks) + 2 proj_out
    # Every adapted official weight moved by exactly B @ A (the fuse: strength 1, no alpha).
    file = safetensors.torch.load_file(str(lora))
    base_sd = official_state_dict(base)
    fused = official.state_dict()
    worst = 0.0
    for key in (k for k in file if ".lora_A." in k):
        module = key.removeprefix("diffusion_model.").rsplit(".lora_A.", 1)[0]
        delta = (file[key.replace(".lora_A.", ".lora_B.")] @ file[key]).float()  # the official fuse multiplies in bf16
        worst = max(worst, float((fused[module + ".weight"] - base_sd[module + ".weight"] - delta).abs().max()))
    assert worst == 0.0

    none = dict.fromkeys(("scheduler", "vae", "audio_vae", "text_encoder", "tokenizer", "connectors", "vocoder"))
    pipe = LTX2Pipeline(transformer=copy.deepcopy(base), **none)
    pipe.load_lora_weights(str(lora), adapter_name="suffix")
    args = (
        case.video,
        case.video_sigmas,
        case.sigma,
        case.text,
        case.geometry,
        case.audio,
        case.audio_sigmas,
        case.audio_sigma,
    )
    with torch.no_grad():
        v, a = predict_velocity(pipe.transformer, *args)
        plain_v, _ = predict_velocity(base, *args)
    ov, oa = official_velocity(official, *args)
    dv, da = float((v - ov).abs().max()), float((a - oa).abs().max())
    print(
        f"LoRA applied: diffusers vs official max difference video {dv:.1e}, audio {da:.1e}; "
        f"fused delta error {worst:.1e}; LoRA effect {float((v - plain_v).abs().max()):.2f}"
    )
    # The official fuse multiplies B @ A in bf16 (exact fused weights above); diffusers applies the adapter unfused in
    # fp32. What remains is that bf16 rounding of the delta: about 1% of the LoRA's own effect.
    assert dv < 1e-2 and da < 1e-2
    assert float((v - plain_v).abs().max()) > 0.1  # the adapter really changes the output


MODULE_RENAMES = sorted(n for n in DIFFUSERS_TO_OFFICIAL if not n.endswith("_table"))  # the tables are parameters


def test_the_refused_names_are_exactly_the_modules_the_rename_map_renames() -> None:
    assert set(MODULE_RENAMES) == DIFFUSERS_ONLY_MODULES


@pytest.mark.parametrize("name", MODULE_RENAMES)
def test_a_target_only_diffusers_names_is_refused_before_training(name: str) -> None:
    base = seeded_diffusers_transformer(CONFIG, seed=0)
    reached = [m for m, _ in base.named_modules() if name in m.split(".")]
    assert reached, f"{name} names no module of the 2.3 transformer"
    with pytest.raises(ValueError, match="silently drop"):
        check_portable_targets(base, [name])
    with pytest.raises(ValueError, match=name):
        attach_lora(copy.deepcopy(base), rank=4, targets=(name,), seed=0)
    assert not any("lora_" in n for n, _ in base.named_parameters())  # refused before anything was attached


def test_a_generic_target_that_reaches_a_renamed_module_is_refused_too() -> None:
    base = seeded_diffusers_transformer(CONFIG, seed=0)
    with pytest.raises(ValueError, match=r"time_embed\.linear"):  # "linear" also ends adaln_single's linear
        check_portable_targets(base, ["linear"])
    check_portable_targets(base, [*TARGETS])  # every target of the file test above is portable
