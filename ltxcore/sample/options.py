"""What a person sets for one `extend` run, apart from the sampler: the CLI builds its options from this model
without loading torch or the pipelines."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ltxcore.geometry import AspectRatio, Resolution
from ltxcore.prompts import DEFAULT_NEGATIVE_PROMPT


class ExtendOptions(BaseModel):
    """What a person sets for one `extend` run; the CLI's options are generated from these fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)  # --fps nan: "a finite number"

    frames: int = Field(default=89, ge=9, le=257, description="Frames per extension, snapped down to 8k+1.")
    fps: float = Field(default=24, ge=8, le=60, description="Frame rate.")
    resolution: Resolution = Field(default="high", description="low, medium or high.")
    aspect: AspectRatio = Field(default="1:1", description="16:9, 1:1 or 9:16.")
    with_audio: bool | None = Field(default=None, description="Generate audio too (default: as the LoRA was trained).")
    conditioning_frames: int | None = Field(
        default=None, ge=8, le=121, multiple_of=8, description="Closing frames kept clean (default: as trained)."
    )
    seed: int = Field(default=42, ge=0, lt=2**63, description="Noise seed.")
    steps: int = Field(default=30, ge=2, le=200, description="Denoising steps.")
    cfg: float = Field(default=3.0, ge=0, le=20, description="Video CFG scale (<= 1: off).")
    stg_scale: float = Field(default=1.0, ge=0, le=3, description="Spatio-temporal guidance (0 = off).")
    modality_scale: float = Field(
        default=3.0, ge=0, le=10, description="Audio-video modality guidance when audio is generated (1 = off)."
    )
    negative_prompt: str = Field(default=DEFAULT_NEGATIVE_PROMPT, description="Negative prompt.")
    repeat: int = Field(default=1, ge=1, le=16, description="Chain N extensions backward for a longer lead-in.")
