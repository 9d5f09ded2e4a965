"""What a training run is told (`TrainConfig`), what it reports while it runs (`TrainProgress`) and what it leaves
behind (`LoraRun`). All three are frozen pydantic models: the caller hashes the config into the output directory's
content key, the Prefect task forwards progress events, and the manifest points at the files.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ltxcore.geometry import suffix_latent_frames
from ltxcore.model.lora import ATTENTION_TARGETS
from ltxcore.train.best import BestPick

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class TrainerSettings(BaseModel):
    """How a deployment trains: every TrainConfig field that is not a request field (EXTEND_SUFFIX_TRAINER, JSON)."""

    model_config = _FROZEN

    seed: int = Field(default=42, description="Seeds LoRA init, data order, sigmas and noise.")
    batch_size: int = Field(default=1, ge=1, description="Clips per micro-batch.")
    grad_accum: int = Field(default=1, ge=1, description="Micro-batches per optimizer step.")
    grad_clip: float = Field(default=1.0, gt=0, description="Max global L2 norm of the LoRA gradients.")
    warmup: int | None = Field(default=None, ge=0, description="Warm-up steps; None = 5% of steps, at most 100.")
    final_lr_ratio: float = Field(default=0.1, ge=0, le=1, description="LR at the last step, relative to the peak.")
    weight_decay: float = Field(default=0.0, ge=0, description="AdamW decoupled weight decay on the LoRA weights.")
    target_modules: tuple[str, ...] = Field(
        default=ATTENTION_TARGETS, description="Module name endings that get LoRA adapters (peft `target_modules`)."
    )
    gradient_checkpointing: bool = Field(default=False, description="Recompute block activations in backward.")
    checkpoint_blocks: Literal["auto", "all"] | Annotated[int, Field(ge=0)] = Field(
        default="auto",
        description="With gradient_checkpointing: how many transformer blocks recompute (the first N). 'auto' = the "
        "fewest that fit the GPU's free memory (from the measured activation size of one block); on the CPU 'auto' "
        "is 'all'. Every choice gives the same gradients.",
    )
    compile: bool | None = Field(
        default=None,
        description="torch.compile each repeated transformer block (regional compilation); None = on CUDA only.",
    )
    optimizer: Literal["adamw", "adamw8bit"] = Field(
        default="adamw", description="'adamw8bit' keeps AdamW's two moments in 8 bits (torchao): ~1/4 of fp32 state."
    )
    base_quantization: Literal["none", "int8"] = Field(
        default="none", description="Frozen base transformer weights: 'int8' = weight-only int8 (torchao), 1/2 of bf16."
    )
    checkpoint_every: int = Field(default=250, ge=1, description="Steps between resumable checkpoints.")
    keep_checkpoints: int = Field(default=2, ge=1, description="Newest checkpoints kept on disk.")
    validate_every: int = Field(default=250, ge=1, description="Steps between held-out validation losses.")
    validation_sigmas: tuple[float, ...] = Field(
        default=(0.25, 0.5, 0.75), description="Fixed sigmas at which each held-out clip's loss is measured."
    )
    holdout_clips: int | None = Field(
        default=None, ge=0, description="Clips kept out of training for validation; None = 10%, at least 1 if >= 4."
    )
    plot_every: int = Field(default=25, ge=1, description="Steps between refreshes of the loss-curve PNG.")
    preview_every: int | None = Field(
        default=None, ge=1, description="Steps between validation previews rendered with the live LoRA; None = none."
    )


class TrainConfig(TrainerSettings):
    """One LoRA training run: the request's training fields (ltxcore.job.plan) on top of the trainer settings."""

    # From the request
    rank: int = Field(default=32, ge=1, description="LoRA rank; alpha is always equal to it (see the LoRA notes).")
    steps: int = Field(default=2000, ge=1, description="Optimizer steps (each of `grad_accum` micro-batches).")
    learning_rate: float = Field(default=2e-4, gt=0, description="Peak learning rate, reached after warm-up.")
    conditioning_frames: int = Field(default=8, ge=8, multiple_of=8, description="Clean trailing pixel frames.")
    frame_rate: float = Field(default=24, gt=0, description="Frames per second of the training clips.")
    with_audio: bool = Field(default=False, description="Train audio jointly, with a clean closing audio window.")
    trigger_phrase: str = Field(default="", description="Recorded in the LoRA metadata and config file.")
    base_model: str = Field(default="tiny", description="Model spec name, recorded in the LoRA metadata.")

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        suffix_latent_frames(self.conditioning_frames)  # raises on a suffix that is not a multiple of 8
        if any(not 0.0 < s <= 1.0 for s in self.validation_sigmas):
            raise ValueError("validation_sigmas must lie in (0, 1]")
        return self

    @property
    def warmup_steps(self) -> int:
        return self.warmup if self.warmup is not None else min(100, self.steps // 20)


class TrainProgress(BaseModel):
    """One progress event: what a progress bar or a Prefect progress artifact shows."""

    model_config = _FROZEN

    step: int
    total: int
    loss: float
    loss_video: float
    loss_audio: float | None
    lr: float
    step_time_s: float
    tokens_per_s: float
    eta_s: float = Field(
        description="Seconds the run has left: steps at their measured wall time, and the validations, previews, "
        "checkpoints and validation reel still due at theirs (ltxcore.train.eta)."
    )
    eta_complete: bool = Field(
        default=True, description="False while an event still due was never timed (eta_s is then a lower bound)."
    )
    val_loss: float | None = Field(default=None, description="Set on the steps that ran a validation.")

    @property
    def fraction(self) -> float:
        return self.step / self.total

    def describe(self) -> str:
        """One line for a progress bar or a log."""
        val = f" val_loss {self.val_loss:.4f}" if self.val_loss is not None else ""
        eta = f"{'' if self.eta_complete else '>='}{self.eta_s:.0f}s"
        return f"loss {self.loss:.4f} lr {self.lr:.2e} {self.tokens_per_s:.0f} tok/s ETA {eta}{val}"


class ValidationPoint(BaseModel):
    """The held-out loss at one step (step 0 = the base model, before any update)."""

    model_config = _FROZEN

    step: int
    loss: float
    loss_video: float
    loss_audio: float | None
    split: str = Field(description="'holdout' when clips were kept out of training, else 'train'.")


class LoraRun(BaseModel):
    """The training stage's manifest: the LoRA, its config file, the loss log and plot, and summary numbers."""

    model_config = _FROZEN

    lora_path: str | None = Field(description="bf16 safetensors in the `diffusion_model.` format; None if unfinished.")
    config_path: str | None
    metrics_path: str = Field(description="JSONL: one line per step, plus validation lines.")
    plot_path: str = Field(description="Loss-curve PNG (raw and smoothed).")
    steps_done: int
    steps_total: int
    finished: bool
    final_loss: float | None = Field(description="Mean total loss over the last steps (up to 20).")
    final_loss_video: float | None
    final_loss_audio: float | None
    validation: list[ValidationPoint] = Field(default_factory=list)
    best: list[BestPick] = Field(default_factory=list, description="The best step by each score, with its LoRA file.")
    guard_findings: list[str] = Field(default_factory=list, description="What the audio guardrails saw (train.guards).")

    def best_by(self, score: str) -> BestPick | None:
        return next((p for p in self.best if p.score == score), None)
