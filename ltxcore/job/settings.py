"""Deployment settings: where a job runs and what it may touch. Every `EXTEND_SUFFIX_*` variable is a field here
(the tool settings it extends included). They are resolved once where a job enters (the CLI's verbs, a served flow's
start, the queue API) and handed down inside the job's plan; nothing below those entry points builds them."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from ltxcore.model.gpus import GpuName
from ltxcore.settings import PREFIX, ToolSettings
from ltxcore.train.config import TrainerSettings

BUCKET_MULTIPLE = 32  # the VAE downsamples by 32 spatially: any other side would be cropped or fail in the model
MAX_BUCKET_SIDE = 4096


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' -> (width, height), each a positive multiple of 32 and at most 4096; ValueError for anything else."""
    m = re.fullmatch(r"\s*([0-9]{1,6})\s*[xX]\s*([0-9]{1,6})\s*", text)
    if not m:
        raise ValueError(f"expected WIDTHxHEIGHT in pixels, e.g. 64x64 (got {text!r})")
    w, h = int(m.group(1)), int(m.group(2))
    if not all(0 < side <= MAX_BUCKET_SIDE and side % BUCKET_MULTIPLE == 0 for side in (w, h)):
        raise ValueError(
            f"width and height must be positive multiples of {BUCKET_MULTIPLE} and at most {MAX_BUCKET_SIDE}, "
            f"e.g. 64x64 (got {text!r})"
        )
    return w, h


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which a container's cpuset narrows), not the machine's."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class JobSettings(ToolSettings):
    work_root: str = Field(default_factory=lambda: str(Path.cwd() / "runs"), description="Stage store (a directory).")
    output_root: str = Field(
        default="", description="Where outputs are published: a directory or an s3:// prefix; default <work>/outputs."
    )
    model: str = Field(default="tiny", description="'tiny', a diffusers-layout directory or an s3:// prefix.")
    allow_local_inputs: bool = Field(
        default=False,
        validation_alias=f"{PREFIX}ALLOW_LOCAL",
        description="Accept local paths and file:// URLs as inputs.",
    )
    allow_private_hosts: bool = Field(default=False, description="Accept URLs resolving to private/loopback hosts.")
    device: str = Field(default="auto", description="'auto', 'cpu' or 'cuda'.")
    bucket_override: tuple[int, int] | None = Field(
        default=None,
        description="WxH replacing every resolution bucket: for smoke tests and the tiny-model demo only, where a "
        "512-960 px bucket would spend minutes in a toy VAE.",
    )
    train_deployment: str | None = Field(
        default=None, description="flow/deployment that trains (a GPU pool); unset trains in the job's own process."
    )
    stage_mirror: str | None = Field(
        default=None, description="s3:// prefix mirroring every stage's files, for workers that share no disk."
    )
    sample_steps: int = Field(default=30, ge=2, description="Denoising steps of validation previews.")
    trainer: TrainerSettings = Field(default_factory=TrainerSettings, description="Trainer settings (JSON).")
    task_runner: str = Field(default="threads", description="threads[:N], dask[:N] or tcp://scheduler:8786.")
    max_parallel: int = Field(
        default_factory=available_cores,
        ge=1,
        description="Mapped tasks (scene split, fit) at once, for threads and local Dask workers; default: the cores "
        "this process may use.",
    )
    progress_bar: bool = Field(default=False, description="Draw a terminal progress bar (the CLI sets it).")
    gpu: GpuName | None = Field(
        default=None,
        description="The GPU this deployment trains on: a request no memory tier fits on it is refused (422, 0 units) "
        "before encoding. Unset: no check.",
    )
    previews: int = Field(
        default=8,
        ge=0,
        le=100,
        description="Validation previews over a run with validation clips (0 = none); the trainer setting "
        "preview_every, when given, wins.",
    )
    link_expiry_days: float = Field(
        default=7.0,
        gt=0,
        le=7.0,
        description="Lifetime of presigned https links to s3:// outputs (S3 caps it at 7).",
    )

    @field_validator("bucket_override", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        return parse_size(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _output_root(self) -> JobSettings:
        if not self.output_root:
            object.__setattr__(self, "output_root", f"{self.work_root.rstrip('/')}/outputs")
        return self

    def to_env(self) -> dict[str, str]:
        """The deployment settings as the environment a worker reads them from (a deployment's job variables, a
        subprocess): every field this class declares, unset ones left out, under the name `JobSettings()` reads."""
        env = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if name in ToolSettings.model_fields or value is None:
                continue  # the machine's own tools and credentials stay the worker's
            key = field.validation_alias if isinstance(field.validation_alias, str) else f"{PREFIX}{name.upper()}"
            env[key] = _env_text(value)
        return env

    def torch_device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"


def _env_text(value: object) -> str:
    """A field's value as pydantic-settings parses it back: JSON for models, lower-case booleans, WxH for a size."""
    if isinstance(value, BaseModel):
        return value.model_dump_json(exclude_defaults=True)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return "{}x{}".format(*value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
