"""Typed manifests that move between stages. They point at files; they never hold frames or tensors.

Paths are absolute local paths or fsspec URLs. Every manifest is frozen: a stage builds a new one, never edits.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class ArchiveRef(BaseModel):
    """A fetched input file on local disk."""

    model_config = _FROZEN

    url: str = Field(description="Where it came from, as the user gave it.")
    path: str = Field(description="Local copy.")
    sha256: str
    size: int = Field(description="Bytes.")


class ProbeInfo(BaseModel):
    """What ffprobe says about a video, with rotation already applied to width/height."""

    model_config = _FROZEN

    width: int
    height: int
    fps: float = Field(description="Average frame rate.")
    num_frames: int = Field(description="Frames (counted or estimated from duration x fps).")
    duration: float = Field(description="Seconds.")
    rotation: int = Field(default=0, description="Degrees clockwise from the display matrix, 0/90/180/270.")
    has_audio: bool = False
    vfr: bool = Field(default=False, description="Variable frame rate detected.")
    codec: str = ""


class SourceClip(BaseModel):
    """A video from the archive (or one scene of it), with its caption."""

    model_config = _FROZEN

    id: str = Field(description="Stable id derived from the relative path (and scene index).")
    path: str = Field(description="Local video file.")
    rel_path: str = Field(description="Path inside the archive, for messages.")
    caption: str = ""
    probe: ProbeInfo | None = None
    start: float = Field(default=0.0, description="Seconds into `path` where this clip starts (scenes).")
    end: float | None = Field(default=None, description="Seconds into `path` where it ends; None = file end.")

    @property
    def stop(self) -> float:
        """Where the clip ends in `path`, in seconds (needs the probe when `end` is None)."""
        if self.end is not None:
            return self.end
        assert self.probe is not None, "probe the clip before asking where it ends"
        return self.probe.duration

    @property
    def duration(self) -> float:
        return self.stop - self.start


class SkippedClip(BaseModel):
    """A file that will not be trained on, and why (shown to the user)."""

    model_config = _FROZEN

    file: str = Field(description="Path inside the archive.")
    reason: str
    type: str = Field(description="Machine-readable reason: too_short, unreadable, image, ...")
    start: float | None = Field(default=None, description="A skipped scene: seconds into `file` where it starts.")
    end: float | None = Field(default=None, description="A skipped scene: seconds into `file` where it ends.")


class FittedClip(BaseModel):
    """A training window: exactly `num_frames` frames at `fps`, `width` x `height`, and its audio if any."""

    model_config = _FROZEN

    id: str
    source_id: str
    rel_path: str
    video_path: str = Field(description="mp4 with exactly num_frames frames at the bucket size.")
    audio_path: str | None = Field(default=None, description="16 kHz stereo float32 WAV, exactly num_frames/fps s.")
    caption: str = Field(description="Caption with the trigger phrase prepended.")
    num_frames: int
    fps: float
    width: int
    height: int
    source_start: float = Field(description="Seconds into the source where the window starts.")
    source_end: float = Field(description="Seconds into the source where the window ends.")
    speed: float = Field(
        default=1.0, description="Source seconds per output second (1.0 = none; below 1 the clip was slowed down)."
    )
    source_fps: float | None = Field(default=None, description="Frame rate of the source, for the fps conversion.")


class ExtractResult(BaseModel):
    """A set of source clips and the files left out so far (the output of extract, probe and scene split)."""

    model_config = _FROZEN

    clips: list[SourceClip] = Field(default_factory=list)
    skipped: list[SkippedClip] = Field(default_factory=list)


class FitResult(BaseModel):
    """What fitting one source clip gave: its training windows, or the reason it gave none."""

    model_config = _FROZEN

    clips: list[FittedClip] = Field(default_factory=list)
    skipped: SkippedClip | None = None


class ValidationClip(BaseModel):
    """A fetched and probed validation video, ready to be extended backward."""

    model_config = _FROZEN

    index: int = Field(description="Position in the request's `validation` list.")
    url: str
    path: str = Field(description="Local copy.")
    prompt: str = ""
    probe: ProbeInfo


class DatasetManifest(BaseModel):
    """The fitted dataset: what trains, what was skipped and why, and the geometry all clips share."""

    model_config = _FROZEN

    clips: list[FittedClip]
    skipped: list[SkippedClip] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    num_frames: int
    fps: float
    width: int
    height: int
    conditioning_frames: int
    with_audio: bool


class LatentClip(BaseModel):
    """One clip's cached latents: a safetensors file with `video_latents` and, with audio, `audio_latents`."""

    model_config = _FROZEN

    id: str
    path: str = Field(description="safetensors: video_latents [128, F', H', W'] (+ audio_latents [8, T, 16]).")
    text_key: str = Field(description="Key into LatentCache.texts for this clip's caption.")


class LatentCache(BaseModel):
    """The encoded dataset: normalised posterior-mode latents per clip, and text embeddings once per unique prompt.

    Text files hold the frozen connectors' outputs: video_prompt_embeds [L, Dv], audio_prompt_embeds [L, Da],
    prompt_attention_mask [L]. `prompts` maps every encoded prompt (captions, the negative prompt, "") to its key.
    """

    model_config = _FROZEN

    root: str = Field(description="Directory holding clips/, texts/ and this manifest.")
    clips: list[LatentClip]
    texts: dict[str, str] = Field(description="text_key -> safetensors path.")
    prompts: dict[str, str] = Field(description="prompt text -> text_key.")
    negative_prompt: str
    model_fingerprint: str
    shapes: dict[str, list[int]] = Field(description="Tensor name -> shape (per clip or per prompt, no batch axis).")
    dtypes: dict[str, str] = Field(description="Tensor name -> torch dtype name.")
    num_frames: int
    fps: float
    width: int
    height: int
    conditioning_frames: int
    with_audio: bool
    suffix_latent_frames: int = Field(description="Trailing latent frames that are the clean video suffix.")
    audio_suffix_steps: int = Field(description="Trailing audio latent steps that match the video suffix.")

    def text_key(self, prompt: str) -> str:
        return self.prompts[prompt]
