"""Where a job runs and what it may touch: deployment settings, never request fields.

They come from the environment (a deployment's job variables set them), so a person filling the request form in the
Prefect UI can never widen what the job may read (local files, private hosts).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


class JobSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    work_root: str = Field(description="Stage store: a local directory or an s3:// prefix.")
    output_root: str = Field(description="Where published outputs go: a local directory or an s3:// prefix.")
    model: str = Field(default="tiny", description="Model spec: 'tiny', a local directory or an s3:// prefix.")
    allow_local_inputs: bool = Field(default=False, description="Accept local paths and file:// URLs as inputs.")
    allow_private_hosts: bool = Field(default=False, description="Accept URLs resolving to private/loopback hosts.")
    device: str = Field(default="auto", description="'auto', 'cpu' or 'cuda'.")
    bucket_override: tuple[int, int] | None = Field(
        default=None,
        description="(width, height) replacing every resolution bucket: for smoke tests and the tiny-model demo only, "
        "where a 512-960 px bucket would spend minutes in a toy VAE.",
    )
    train_deployment: str | None = Field(
        default=None, description="flow/deployment that trains (a GPU pool); None trains in the job's own process."
    )
    stage_mirror: str | None = Field(
        default=None, description="s3:// prefix mirroring every stage's files, for workers that share no disk."
    )
    sample_steps: int = Field(default=30, ge=2, description="Denoising steps of validation previews.")
    trainer: dict[str, Any] = Field(
        default_factory=dict, description="Trainer settings (TrainConfig fields that are not request fields)."
    )

    @classmethod
    def from_env(cls, **overrides: object) -> JobSettings:
        root = os.environ.get("EXTEND_SUFFIX_WORK_ROOT", str(Path.cwd() / "runs"))
        values: dict[str, object] = {
            "work_root": root,
            "output_root": os.environ.get("EXTEND_SUFFIX_OUTPUT_ROOT", f"{root.rstrip('/')}/outputs"),
            "model": os.environ.get("EXTEND_SUFFIX_MODEL", "tiny"),
            "allow_local_inputs": _flag("EXTEND_SUFFIX_ALLOW_LOCAL", False),
            "allow_private_hosts": _flag("EXTEND_SUFFIX_ALLOW_PRIVATE_HOSTS", False),
            "device": os.environ.get("EXTEND_SUFFIX_DEVICE", "auto"),
            "trainer": json.loads(os.environ.get("EXTEND_SUFFIX_TRAINER", "{}")),
            "sample_steps": int(os.environ.get("EXTEND_SUFFIX_SAMPLE_STEPS", "30")),
            "train_deployment": os.environ.get("EXTEND_SUFFIX_TRAIN_DEPLOYMENT") or None,
            "stage_mirror": os.environ.get("EXTEND_SUFFIX_STAGE_MIRROR") or None,
        }
        if os.environ.get("EXTEND_SUFFIX_BUCKET_OVERRIDE"):
            w, h = os.environ["EXTEND_SUFFIX_BUCKET_OVERRIDE"].lower().split("x")
            values["bucket_override"] = (int(w), int(h))
        values.update(overrides)
        return cls.model_validate(values)

    def to_env(self) -> dict[str, str]:
        """The same settings as environment variables (for a subprocess or a deployment's job variables)."""
        env = {
            "EXTEND_SUFFIX_WORK_ROOT": self.work_root,
            "EXTEND_SUFFIX_OUTPUT_ROOT": self.output_root,
            "EXTEND_SUFFIX_MODEL": self.model,
            "EXTEND_SUFFIX_ALLOW_LOCAL": str(self.allow_local_inputs).lower(),
            "EXTEND_SUFFIX_ALLOW_PRIVATE_HOSTS": str(self.allow_private_hosts).lower(),
            "EXTEND_SUFFIX_DEVICE": self.device,
            "EXTEND_SUFFIX_TRAINER": json.dumps(self.trainer, sort_keys=True),
            "EXTEND_SUFFIX_SAMPLE_STEPS": str(self.sample_steps),
        }
        if self.train_deployment:
            env["EXTEND_SUFFIX_TRAIN_DEPLOYMENT"] = self.train_deployment
        if self.stage_mirror:
            env["EXTEND_SUFFIX_STAGE_MIRROR"] = self.stage_mirror
        if self.bucket_override:
            env["EXTEND_SUFFIX_BUCKET_OVERRIDE"] = "{}x{}".format(*self.bucket_override)
        return env

    def train_size(self, request_size: tuple[int, int]) -> tuple[int, int]:
        return self.bucket_override or request_size

    def trainer_settings(self) -> dict[str, Any]:
        """Trainer settings with the device's defaults: on a GPU, gradient checkpointing unless set, since the default
        request (768x768x89, rank 32) needs about 89 GiB without it and about 44 GiB with it (estimated)."""
        out = dict(self.trainer)
        if self.torch_device().startswith("cuda"):
            out.setdefault("gradient_checkpointing", True)
        return out

    def torch_device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
