"""What a request asks of the GPU, in the numbers the pre-flight estimate (`ltxcore.job.estimate`) needs. Built by
the plan from the request and the training config it resolved, so the estimate counts what the run will do."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ltxcore import geometry
from ltxcore.job.request import ExtendSuffixRequest
from ltxcore.train.config import TrainConfig
from ltxcore.train.data import holdout_count

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class Workload(BaseModel):
    """What a request asks of the GPU, in the numbers the estimate needs."""

    model_config = _FROZEN

    width: int
    height: int
    frames: int
    fps: float
    rank: int
    steps: int
    with_audio: bool
    validation_clips: int = Field(description="Closing clips rendered by each preview and the reel.")
    val_width: int
    val_height: int
    val_frames: int
    val_fps: float
    sample_passes: int = Field(description="Transformer passes per denoising step (cond, CFG, STG, modality).")
    sample_steps: int
    validate_every: int
    preview_every: int | None
    holdout_setting: int | None = Field(description="The trainer's holdout_clips (None: a tenth of the dataset).")
    clips: int | None = Field(default=None, description="Training windows in the dataset, once it is built.")
    validation_sigmas: int

    @property
    def video_tokens(self) -> int:
        return geometry.video_tokens(self.width, self.height, self.frames)

    @property
    def audio_tokens(self) -> int:
        return geometry.audio_steps(self.frames / self.fps) if self.with_audio else 0

    @property
    def holdout_clips(self) -> int:
        """Clips the held-out loss runs over, each at every validation sigma (the first training clip when none is
        held out); before the dataset is built, the setting or one."""
        if self.clips is None:
            return max(self.holdout_setting or 1, 1)
        return max(holdout_count(self.clips, self.holdout_setting), 1)

    @classmethod
    def of(
        cls, request: ExtendSuffixRequest, train: TrainConfig, sample_steps: int, clips: int | None = None
    ) -> Workload:
        """The request at its own bucket (a deployment's bucket override is for the tiny model and is ignored), with
        the trainer's cadences as the plan resolved them (`ltxcore.job.plan.train_config`: previews included).
        `clips`: training windows in the dataset, when known (`model_copy(update={"clips": n})` adds them later)."""
        width, height = request.size
        val_width, val_height = request.validation_size
        passes = 2 + (request.stg_scale > 0) + request.with_audio  # cond + CFG, STG, modality guidance
        return cls(
            width=width,
            height=height,
            frames=request.number_of_frames,
            fps=request.frame_rate,
            rank=train.rank,
            steps=train.steps,
            with_audio=train.with_audio,
            validation_clips=len(request.validation),
            val_width=val_width,
            val_height=val_height,
            val_frames=request.validation_number_of_frames,
            val_fps=request.validation_frame_rate,
            sample_passes=passes,
            sample_steps=sample_steps,
            validate_every=train.validate_every,
            preview_every=train.preview_every,
            holdout_setting=train.holdout_clips,
            clips=clips,
            validation_sigmas=len(train.validation_sigmas),
        )
