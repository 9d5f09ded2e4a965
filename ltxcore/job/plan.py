"""The one place a request and a deployment become a job: `plan_job(request, settings)` is called once where a job
enters (the flow's start, the CLI's verbs) and gives every stage, `prepare` and the estimate what they need, so no
stage below this module ever sees the request or reads a setting from the environment."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ltxcore.intake.fit import FitSettings
from ltxcore.intake.validation import ValidationEntry, ValidationSpec
from ltxcore.job.fits import ensure_fits
from ltxcore.job.request import ExtendSuffixRequest, billable_units, validate_request
from ltxcore.job.settings import JobSettings
from ltxcore.job.workload import Workload
from ltxcore.sample.extend import ExtendSettings
from ltxcore.store.stages import OUTPUTS
from ltxcore.train.config import LoraRun, TrainConfig


class JobPlan(BaseModel):
    """Every stage's settings for one request on one deployment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    settings: JobSettings = Field(description="The deployment the job runs on, as its entry point resolved it.")
    training_data_url: str
    validation: ValidationSpec
    with_audio: bool = Field(description="Every training clip must have an audio track.")
    scene_threshold_s: float | None = Field(description="Scene-split clips longer than this; None = never split.")
    fit: FitSettings = Field(description="The fit stage's settings, without the trigger phrase (applied after).")
    trigger_phrase: str = Field(description="Prepended to every caption after fitting.")
    conditioning_frames: int
    debug_dataset: bool
    negative_prompt: str
    prompts: list[str] = Field(description="The validation prompts, embedded with the dataset.")
    train: TrainConfig
    extend: ExtendSettings | None = Field(description="How previews and the reel extend; None without validation.")
    billable_units: int = Field(description="What the run costs once training completes.")
    workload: Workload = Field(description="What the request asks of a GPU: the pre-flight estimate's input.")


def plan_job(request: ExtendSuffixRequest, settings: JobSettings) -> JobPlan:
    """Check the request's cross-field rules and input sources (RequestRejected, before anything is written), then
    derive every stage's settings."""
    validate_request(request, allow_local=settings.allow_local_inputs)
    train = train_config(request, settings)
    # the estimate's input from the training config the run will use, so it counts the same previews
    workload = Workload.of(request, train, settings.sample_steps)
    ensure_fits(request, workload, settings.gpu)  # no memory tier fits the deployment's GPU: 422 before any work
    width, height = settings.bucket_override or request.size
    fit = FitSettings(
        num_frames=request.number_of_frames,
        fps=request.frame_rate,
        width=width,
        height=height,
        auto_scale=request.auto_scale_input,
        with_audio=request.with_audio,
        audio_normalize=request.audio_normalize,
        audio_preserve_pitch=request.audio_preserve_pitch,
    )
    return JobPlan(
        settings=settings,
        training_data_url=request.training_data_url,
        validation=validation_spec(request),
        with_audio=request.with_audio,
        scene_threshold_s=request.split_input_duration_threshold if request.split_input_into_scenes else None,
        fit=fit,
        trigger_phrase=request.trigger_phrase,
        conditioning_frames=request.conditioning_frames,
        debug_dataset=request.debug_dataset,
        negative_prompt=request.validation_negative_prompt,
        prompts=[v.prompt for v in request.validation],
        train=train,
        extend=extend_settings(request, settings) if request.validation else None,
        billable_units=billable_units(request.number_of_steps, True),
        workload=workload,
    )


def validation_spec(request: ExtendSuffixRequest) -> ValidationSpec:
    return ValidationSpec(
        entries=[ValidationEntry(video_url=v.video_url, prompt=v.prompt) for v in request.validation],
        validation_frame_rate=request.validation_frame_rate,
        conditioning_frames=request.conditioning_frames,
        with_audio=request.with_audio,
    )


def train_config(request: ExtendSuffixRequest, settings: JobSettings) -> TrainConfig:
    """The request's training fields on top of the deployment's trainer settings. On a GPU, gradient checkpointing
    unless a setting says otherwise: the default request (768x768x89, rank 32) needs far more memory without it."""
    trainer = settings.trainer.model_dump(exclude_unset=True)
    if settings.torch_device().startswith("cuda"):
        trainer.setdefault("gradient_checkpointing", True)
    if request.validation and settings.previews and "preview_every" not in trainer:
        trainer["preview_every"] = preview_interval(request.number_of_steps, settings.previews)
    return TrainConfig.model_validate(
        trainer
        | {
            "rank": request.rank,
            "steps": request.number_of_steps,
            "learning_rate": request.learning_rate,
            "conditioning_frames": request.conditioning_frames,
            "frame_rate": request.frame_rate,
            "with_audio": request.with_audio,
            "trigger_phrase": request.trigger_phrase,
            "base_model": settings.model,
        }
    )


def preview_interval(steps: int, previews: int) -> int:
    """Steps between previews so that `previews` of them fall inside the run (the last step renders the reel)."""
    return max(1, -(-steps // (previews + 1)))


def extend_settings(request: ExtendSuffixRequest, settings: JobSettings) -> ExtendSettings:
    """Previews and the reel use the validation size, length, rate and negative prompt."""
    width, height = settings.bucket_override or request.validation_size
    return ExtendSettings(
        num_frames=request.validation_number_of_frames,
        fps=request.validation_frame_rate,
        width=width,
        height=height,
        conditioning_frames=request.conditioning_frames,
        with_audio=request.with_audio,
        negative_prompt=request.validation_negative_prompt,
        stg_scale=request.stg_scale,
        audio_normalize=request.audio_normalize,
        steps=settings.sample_steps,
    )


def output_prefix(settings: JobSettings, request: ExtendSuffixRequest, run: LoraRun) -> str:
    """Outputs go under a prefix unique to this request and its trained LoRA."""
    return f"{settings.output_root.rstrip('/')}/{OUTPUTS.key(request=request, run=run)}"
