"""The trainer's view of the LoRA: a seeded attach, which adapters train, and the file with its metadata.

Attaching, the key format and alpha handling are the model layer's (`ltxcore.model.lora`); this module adds what only
training knows: a seeded init, freezing the audio adapters of a video-only run, and the metadata that records how the
file was trained. The file stays the official `diffusion_model.` format (bf16), which ComfyUI and diffusers'
`LTX2Pipeline.load_lora_weights` read; safetensors metadata is ignored by both, so it costs nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import safetensors
import safetensors.torch
import torch

from ltxcore.model import lora as model_lora
from ltxcore.model.lora import METADATA_KEY
from ltxcore.store.atomic import atomic_write_bytes
from ltxcore.train.rng import derive_seed


def attach_lora(
    model: torch.nn.Module, rank: int, targets: tuple[str, ...], seed: int, with_audio: bool = True
) -> None:
    """Add the adapter (A: peft's Kaiming init, drawn from a seeded generator; B: zeros, so the model starts as the
    base model). A video-only run (`with_audio=False`) keeps no audio adapters (`drop_audio_adapters`)."""
    with torch.random.fork_rng(devices=[]):  # seed the init without disturbing the caller's global generator
        torch.manual_seed(derive_seed(seed, "lora-init"))
        model_lora.attach_lora(model, rank=rank, targets=list(targets))
    if not with_audio:
        drop_audio_adapters(model)


def drop_audio_adapters(model: torch.nn.Module) -> int:
    """Put the plain Linear back wherever an audio module got an adapter; returns how many were dropped.

    They are attached first and dropped after, so every video adapter draws the same seeded init as in a run with
    audio (peft draws them in module order, audio and video interleaved): the trained file stays byte for byte what
    freezing them gave, while the forward skips their matmuls and kernel launches on the placeholder audio token.
    """
    from peft.tuners.lora import LoraLayer

    audio = [(name, m) for name, m in model.named_modules() if isinstance(m, LoraLayer) and is_audio_module(name)]
    for name, layer in audio:
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent), child, layer.get_base_layer())
    return len(audio)


def is_audio_module(name: str) -> bool:
    """Adapters only the audio stream or the audio-video cross-attention uses: audio_attn*, audio_ff, a2v, v2a."""
    return "audio" in name


def lora_parameters(model: torch.nn.Module, with_audio: bool) -> dict[str, torch.nn.Parameter]:
    """The adapter weights that train, by name, in a fixed order.

    A video-only run isolates the modalities, so its audio adapters would get no gradient anyway; freezing them makes
    that explicit, keeps them out of AdamW (whose weight decay would otherwise still be free to touch them) and out of
    the saved file, which then holds only what was trained.
    """
    trainable = {}
    for name, param in model.named_parameters():
        train = "lora_" in name and (with_audio or not is_audio_module(name))
        param.requires_grad_(train)
        if train:
            trainable[name] = param
    assert trainable, "no LoRA parameters matched the target modules"
    return trainable


def export_key(name: str) -> str:
    """Parameter name -> file key: `blocks.0.attn1.to_q.lora_A.default.weight` -> `diffusion_model.blocks....weight`."""
    return model_lora.PREFIX + name.replace(f".{model_lora.ADAPTER}.", ".")


def save_lora_file(
    path: Path, model: torch.nn.Module, trained: dict[str, torch.nn.Parameter], metadata: dict[str, object]
) -> None:
    """Write the trained adapters (the model layer's format, bf16) with string metadata, atomically."""
    keys = {export_key(n) for n in trained}
    tensors = {k: v for k, v in model_lora.lora_state_dict(model).items() if k in keys}
    assert tensors.keys() == keys, "the model layer's keys differ from the trained parameters' names"
    # One metadata key holding sorted JSON: safetensors writes its metadata map in a per-process random order, so
    # several keys would make two identical runs write different bytes (and break content hashing of the file).
    text = {METADATA_KEY: json.dumps(metadata, sort_keys=True)}
    atomic_write_bytes(path, safetensors.torch.save(tensors, metadata=text))
