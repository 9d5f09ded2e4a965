"""`extend-suffix extend` as one plain function: the CLI parses its flags and calls `extend_command`.

The suffix length and the audio switch default to what the LoRA was trained with (its safetensors metadata, written
by the training stage); a file without that metadata (made elsewhere) falls back to the request defaults.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ltxcore.geometry import AspectRatio, Resolution, bucket, snap_frames
from ltxcore.model.loader import default_dtype, load_components
from ltxcore.model.lora import read_metadata
from ltxcore.model.spec import ModelSpec
from ltxcore.prompts import DEFAULT_NEGATIVE_PROMPT
from ltxcore.sample.extend import ExtendSettings, ExtensionResult, extend_video, sample_parts

DEFAULT_CONDITIONING_FRAMES = 8


def lora_metadata(path: Path) -> dict[str, object]:
    """How the LoRA was trained (the training stage's metadata), or {} for a file made elsewhere."""
    try:
        return read_metadata(path)
    except KeyError:
        return {}


def extend_command(lora: Path, video: Path, prompt: str, output: Path, *, frames: int = 89, fps: float = 24,
                   resolution: Resolution = "high", aspect: AspectRatio = "1:1", with_audio: bool | None = None,
                   conditioning_frames: int | None = None, seed: int = 42, steps: int = 30, cfg: float = 3.0,
                   stg_scale: float = 1.0, modality_scale: float = 3.0,
                   negative_prompt: str = DEFAULT_NEGATIVE_PROMPT, repeat: int = 1,
                   model: str = "tiny", device: str | None = None,
                   size: tuple[int, int] | None = None) -> ExtensionResult:
    """Extend `video` backward with the LoRA at `lora` and write `output` (`frames`, snapped to 8k+1, per round)."""
    meta = lora_metadata(Path(lora))
    width, height = size or bucket(resolution, aspect)  # `size` replaces the bucket (tiny-model smoke runs)
    settings = ExtendSettings(
        num_frames=snap_frames(frames), fps=fps, width=width, height=height,
        conditioning_frames=conditioning_frames or int(meta.get("conditioning_frames", DEFAULT_CONDITIONING_FRAMES)),
        with_audio=bool(meta.get("with_audio", False)) if with_audio is None else with_audio,
        negative_prompt=negative_prompt, steps=steps, cfg=cfg, stg_scale=stg_scale, modality_scale=modality_scale,
        seed=seed,
    )
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = default_dtype(dev)
    components = load_components(ModelSpec.parse(model), sample_parts(settings.with_audio), device=dev, dtype=dtype)
    return extend_video(components, Path(video), prompt, settings, Path(output), lora_path=Path(lora), repeat=repeat)
