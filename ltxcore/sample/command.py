"""`extend-suffix extend` as one plain function: the CLI parses its flags and calls `extend_command`.

The suffix length and the audio switch default to what the LoRA was trained with (its safetensors metadata, written
by the training stage); a file without that metadata (made elsewhere) falls back to the request defaults.
"""

from __future__ import annotations

from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict, Field

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


class ExtendOptions(BaseModel):
    """What a person sets for one `extend` run; the CLI's options are generated from these fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    frames: int = Field(default=89, ge=9, le=257, description="Frames per extension, snapped down to 8k+1.")
    fps: float = Field(default=24, ge=8, le=60, description="Frame rate.")
    resolution: Resolution = Field(default="high", description="low, medium or high.")
    aspect: AspectRatio = Field(default="1:1", description="16:9, 1:1 or 9:16.")
    with_audio: bool | None = Field(default=None, description="Generate audio too (default: as the LoRA was trained).")
    conditioning_frames: int | None = Field(
        default=None, ge=8, le=121, multiple_of=8, description="Closing frames kept clean (default: as trained)."
    )
    seed: int = Field(default=42, description="Noise seed.")
    steps: int = Field(default=30, ge=2, le=200, description="Denoising steps.")
    cfg: float = Field(default=3.0, ge=0, le=20, description="Video CFG scale (<= 1: off).")
    stg_scale: float = Field(default=1.0, ge=0, le=3, description="Spatio-temporal guidance (0 = off).")
    modality_scale: float = Field(
        default=3.0, ge=0, le=10, description="Audio-video modality guidance when audio is generated (1 = off)."
    )
    negative_prompt: str = Field(default=DEFAULT_NEGATIVE_PROMPT, description="Negative prompt.")
    repeat: int = Field(default=1, ge=1, le=16, description="Chain N extensions backward for a longer lead-in.")


def extend_command(
    lora: Path,
    video: Path,
    prompt: str,
    output: Path,
    options: ExtendOptions,
    *,
    model: str = "tiny",
    device: str | None = None,
    size: tuple[int, int] | None = None,
) -> ExtensionResult:
    """Extend `video` backward with the LoRA at `lora` and write `output` (`frames`, snapped to 8k+1, per round)."""
    o = options
    meta = lora_metadata(Path(lora))
    width, height = size or bucket(o.resolution, o.aspect)  # `size` replaces the bucket (tiny-model smoke runs)
    settings = ExtendSettings(
        num_frames=snap_frames(o.frames),
        fps=o.fps,
        width=width,
        height=height,
        conditioning_frames=o.conditioning_frames or int(meta.get("conditioning_frames", DEFAULT_CONDITIONING_FRAMES)),
        with_audio=bool(meta.get("with_audio", False)) if o.with_audio is None else o.with_audio,
        negative_prompt=o.negative_prompt,
        steps=o.steps,
        cfg=o.cfg,
        stg_scale=o.stg_scale,
        modality_scale=o.modality_scale,
        seed=o.seed,
    )
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = default_dtype(dev)
    components = load_components(ModelSpec.parse(model), sample_parts(settings.with_audio), device=dev, dtype=dtype)
    return extend_video(components, Path(video), prompt, settings, Path(output), lora_path=Path(lora), repeat=o.repeat)
