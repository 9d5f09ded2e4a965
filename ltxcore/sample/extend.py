"""Backward extension of one closing clip: fit, encode, sample the lead-in, decode, write the mp4.

The output is `num_frames` frames: the generated lead-in (decoded from the sampled latents), then the clip's own closing
`conditioning_frames` frames as the VAE reconstructs them from the clip's encoding, so the closing frames are exactly
what the model was conditioned on. With audio, the whole soundtrack is decoded from the jointly sampled audio latents
(its closing window being the clip's clean audio latents) and muxed in sync; without, the mp4 has no audio stream.
`repeat` chains extensions backward: each round's first `conditioning_frames` frames become the next round's suffix.

One entry point per use, all over one `Components` that `load_sampling_parts` loads and the caller owns (these
functions only borrow it: they release the text encoder or merge a LoRA only when asked to encode or given a LoRA):
- the CLI's `extend` verb: `extend_video` (fit the file, encode the prompt, merge the LoRA, chain, write the mp4);
  `extend_in_memory` is the same extension before it is written, for callers that look at the frames;
- the reel and the training previews (`ltxcore.sample.reel.render_validation`): `closing_from_file` once per clip,
  then `extend_frames` per rendering, so the closing clip's encoding is shared between the base and the LoRA.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ltxcore import geometry
from ltxcore.errors import ErrorDetail, RequestRejected
from ltxcore.geometry import AUDIO_SAMPLE_RATE
from ltxcore.manifests import ProbeInfo
from ltxcore.media.mux import resample_wav, write_mp4, write_wav
from ltxcore.media.probe import ProbeError, probe
from ltxcore.model.forward import TextBatch, VideoGeometry, unpack_video
from ltxcore.model.loader import Components, default_dtype, load_components
from ltxcore.model.lora import merge_lora
from ltxcore.model.spec import ModelSpec
from ltxcore.model.text import encode_prompts
from ltxcore.prompts import DEFAULT_NEGATIVE_PROMPT
from ltxcore.sample.closing import (
    Closing,
    Loc,
    Suffix,
    closing_from_frames,
    encode_suffix,
    fit_closing,
    too_short,
)
from ltxcore.sample.decode import decode_audio, decode_video
from ltxcore.sample.guidance import Guidance
from ltxcore.sample.sampler import place_audio_suffix, place_video_suffix, sample
from ltxcore.sample.seam import SeamMetric, seam_metric

TEXT_PARTS = frozenset({"connectors", "text_encoder", "tokenizer"})
VIDEO_PARTS = frozenset({"transformer", "vae", "scheduler"}) | TEXT_PARTS
AUDIO_PARTS = frozenset({"audio_vae", "vocoder"})


def sample_parts(with_audio: bool, with_text: bool = True) -> frozenset[str]:
    """The model parts extension needs (for `load_components`); `with_text=False` when the prompts' embeddings are
    already at hand (the latent cache's), which spares loading the text encoder (about 24 GB for LTX-2.3's Gemma)."""
    parts = VIDEO_PARTS | (AUDIO_PARTS if with_audio else frozenset())
    return parts if with_text else parts - TEXT_PARTS


def load_sampling_parts(
    spec: ModelSpec,
    with_audio: bool,
    device: str | torch.device,
    *,
    with_text: bool = True,
    dtype: torch.dtype | None = None,
) -> Components:
    """The (lazy) parts extension samples with, loaded from `spec` on `device`: the one loader the CLI, the reel and
    the training previews share. `dtype` None: the device's default."""
    dev = torch.device(device)
    parts = sample_parts(with_audio, with_text=with_text)
    return load_components(spec, parts, device=dev, dtype=default_dtype(dev) if dtype is None else dtype)


class ExtendSettings(BaseModel):
    """Everything one extension needs: target geometry, suffix length, sampling and guidance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    num_frames: int = Field(description="Frames of the output, 8k+1: lead-in plus suffix.")
    fps: float = Field(gt=0)
    width: int = Field(gt=0, multiple_of=32)
    height: int = Field(gt=0, multiple_of=32)
    conditioning_frames: int = Field(ge=8, multiple_of=8, description="Closing frames kept clean (the suffix).")
    with_audio: bool = False
    negative_prompt: str = DEFAULT_NEGATIVE_PROMPT
    steps: int = Field(default=30, ge=2)
    cfg: float = Field(default=3.0, description="Video CFG scale (<= 1: off).")
    audio_cfg: float = Field(default=7.0, description="Audio CFG scale (official validation default).")
    stg_scale: float = Field(default=1.0, ge=0, description="STG scale for both modalities (0: off).")
    modality_scale: float = Field(
        default=3.0,
        ge=0,
        description="Modality guidance for jointly generated audio and "
        "video (official 3.0; 1: off). Costs one more transformer pass per step.",
    )
    rescale: float = Field(default=0.7, ge=0, le=1, description="Guidance std rescale.")
    seed: int = 42
    audio_normalize: bool = True
    shift_tokens: int | None = Field(default=None, description="Token count for the sigma shift; None: official 4096.")

    @model_validator(mode="after")
    def _geometry(self) -> ExtendSettings:
        geometry.latent_frames(self.num_frames)
        if self.conditioning_frames >= self.num_frames:
            raise ValueError(f"conditioning_frames ({self.conditioning_frames}) leaves no lead-in in {self.num_frames}")
        return self

    @property
    def lead_in_frames(self) -> int:
        return self.num_frames - self.conditioning_frames

    @property
    def guidance(self) -> Guidance:
        return Guidance(
            cfg=self.cfg,
            audio_cfg=self.audio_cfg,
            stg_scale=self.stg_scale,
            rescale=self.rescale,
            modality=self.modality_scale,
        )


@dataclass(frozen=True)
class Extension:
    """An extended clip in memory: uint8 frames [F, H, W, 3], float32 audio [2, S] at `sample_rate` (or None)."""

    frames: np.ndarray
    audio: np.ndarray | None
    sample_rate: int
    seams: list[SeamMetric] = field(default_factory=list)  # one per round; [0] is the seam into the user's clip


class ExtensionResult(BaseModel):
    """A written extension: the mp4 and what is in it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    video_path: str
    num_frames: int
    fps: float
    width: int
    height: int
    conditioning_frames: int = Field(description="Closing frames taken from the input clip (reconstructed).")
    lead_in_frames: int = Field(description="Generated frames before them.")
    has_audio: bool
    seam: SeamMetric = Field(description="Seam into the input clip's closing frames.")
    seams: list[SeamMetric] = Field(description="One per round of a chained extension.")
    repeat: int
    seed: int
    steps: int


def encode_text(components: Components, prompt: str, negative_prompt: str) -> TextBatch:
    """Two rows: the prompt, then the negative prompt."""
    return encode_prompts(components, [prompt, negative_prompt])


def release_text(components: Components) -> None:
    """Drop the text encoder, tokenizer and connectors once the prompts are encoded: LTX-2.3's Gemma is ~24 GB that
    the transformer can use while it samples."""
    for part in TEXT_PARTS:
        components.release(part)


@dataclass(frozen=True)
class PreparedClosing:
    """A closing clip ready to extend from: its clean suffix latents, and the VAE's reconstruction of its last
    `conditioning_frames` frames (uint8 [N, H, W, 3], the output's closing frames). Neither depends on the LoRA, so
    a training run's previews compute them once per validation clip."""

    suffix: Suffix
    frames: np.ndarray
    original: np.ndarray  # uint8 [N, H, W, 3]: the same closing frames as fitted, before the VAE


def prepare_closing(components: Components, closing: Closing, s: ExtendSettings) -> PreparedClosing:
    suffix, whole = encode_suffix(components, closing, s.conditioning_frames)  # whole: [128, F', h, w]
    frames = decode_video(components, whole[None])[-s.conditioning_frames :]  # the VAE reconstruction
    return PreparedClosing(suffix=suffix, frames=frames, original=closing.frames[-s.conditioning_frames :])


def extend_frames(components: Components, closing: PreparedClosing, text: TextBatch, s: ExtendSettings) -> Extension:
    """One backward extension in memory (no files written): `s.num_frames` frames ending in the clip's suffix."""
    lat_frames = geometry.latent_frames(s.num_frames)
    lw, lh = geometry.latent_size(s.width, s.height)
    geo = VideoGeometry(frames=lat_frames, height=lh, width=lw, fps=s.fps)
    video = place_video_suffix(closing.suffix.video, lat_frames)
    audio = None
    if s.with_audio:
        steps = geometry.audio_steps(s.num_frames / s.fps)
        audio = place_audio_suffix(closing.suffix.audio, steps, components.device)
    generator = torch.Generator().manual_seed(s.seed)
    video_tokens, audio_tokens = sample(
        components.transformer,
        components.scheduler,
        text,
        geo,
        video,
        audio,
        s.guidance,
        steps=s.steps,
        generator=generator,
        shift_tokens=s.shift_tokens,
    )
    lead = decode_video(components, unpack_video(video_tokens, lat_frames, lh, lw))[: s.lead_in_frames]
    frames = np.concatenate([lead, closing.frames])  # [num_frames, H, W, 3]
    wave, rate = (None, 0) if audio_tokens is None else decode_audio(components, audio_tokens, s.num_frames / s.fps)
    return Extension(frames=frames, audio=wave, sample_rate=rate, seams=[seam_metric(frames, s.conditioning_frames)])


def extend_repeat(
    components: Components, closing: PreparedClosing, text: TextBatch, s: ExtendSettings, repeat: int
) -> Extension:
    """`repeat` extensions chained backward: num_frames + (repeat - 1) * lead_in_frames frames in all."""
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1 (got {repeat})")
    out = extend_frames(components, closing, text, s)
    with tempfile.TemporaryDirectory(prefix="chain-") as tmp:
        for k in range(1, repeat):
            # The running clip's FIRST frames (and their audio) are the next round's suffix.
            wav = _head_wav(out, s, Path(tmp) / f"chain-{k}")
            nxt = closing_from_frames(out.frames[: s.conditioning_frames], s.fps, wav, s.conditioning_frames)
            new = extend_frames(
                components, prepare_closing(components, nxt, s), text, s.model_copy(update={"seed": s.seed + k})
            )
            audio = None
            if out.audio is not None and new.audio is not None:
                keep = new.audio.shape[1] - round(new.sample_rate * s.conditioning_frames / s.fps)
                audio = np.concatenate([new.audio[:, :keep], out.audio], axis=1)  # [2, S_total]
            out = Extension(
                frames=np.concatenate([new.frames[: s.lead_in_frames], out.frames]),
                audio=audio,
                sample_rate=out.sample_rate,
                seams=[*out.seams, *new.seams],
            )
    return out


def _head_wav(ext: Extension, s: ExtendSettings, stem: Path) -> Path | None:
    """The running clip's first `conditioning_frames` of audio as a 16 kHz WAV (the encoder's rate), or None."""
    if ext.audio is None:
        return None
    seconds = s.conditioning_frames / s.fps
    head = ext.audio[:, : round(ext.sample_rate * seconds)]  # [2, S]
    src = write_wav(stem.with_name(stem.name + "-src.wav"), head, ext.sample_rate)
    return resample_wav(src, stem.with_suffix(".wav"), AUDIO_SAMPLE_RATE, seconds)


def extend_video(
    components: Components,
    closing_video: Path,
    prompt: str,
    settings: ExtendSettings,
    out_path: Path,
    *,
    lora_path: Path | None = None,
    repeat: int = 1,
    loc: Loc = ("video",),
) -> ExtensionResult:
    """Extend the clip at `closing_video` backward and write the mp4 to `out_path` (see `extend_in_memory`)."""
    ext = extend_in_memory(components, closing_video, prompt, settings, lora_path=lora_path, repeat=repeat, loc=loc)
    return write_extension(ext, settings, out_path, repeat)


def fit_closing_for(
    video: Path, out: Path, settings: ExtendSettings, loc: Loc, info: ProbeInfo | None = None
) -> Closing:
    """The closing clip fitted to `settings`: the one call the reel, `extend` and the up-front validation check
    (ltxcore.sample.prefit) all make, so a clip the check accepts is a clip the reel can use."""
    return fit_closing(
        video,
        out,
        num_frames=settings.num_frames,
        fps=settings.fps,
        width=settings.width,
        height=settings.height,
        conditioning_frames=settings.conditioning_frames,
        with_audio=settings.with_audio,
        audio_normalize=settings.audio_normalize,
        info=info,
        loc=loc,
    )


def closing_from_file(
    components: Components, closing_video: Path, settings: ExtendSettings, loc: Loc
) -> PreparedClosing:
    """The clip at `closing_video` checked, fitted and prepared. A clip too short for the suffix, or without sound
    when audio is generated, raises `RequestRejected` at `loc` (both mistakes at once) before any model work."""
    try:
        info = probe(Path(closing_video))
    except ProbeError as exc:
        raise RequestRejected.one(loc, f"{Path(closing_video).name}: {exc.reason}", exc.type) from None
    errors = [
        e
        for e in (
            too_short(info, settings.conditioning_frames, settings.fps, loc),
            silent_closing(info, settings.with_audio, loc),
        )
        if e is not None
    ]
    if errors:
        raise RequestRejected(errors)
    with tempfile.TemporaryDirectory(prefix="extend-") as tmp:
        closing = fit_closing_for(Path(closing_video), Path(tmp), settings, loc, info=info)
        return prepare_closing(components, closing, settings)


def extend_in_memory(
    components: Components,
    closing_video: Path,
    prompt: str,
    settings: ExtendSettings,
    *,
    lora_path: Path | None = None,
    repeat: int = 1,
    loc: Loc = ("video",),
    text: TextBatch | None = None,
) -> Extension:
    """Fit the clip at `closing_video` (see `closing_from_file`), then extend it backward `repeat` times.

    `lora_path`: a LoRA file (the model layer's format) merged into the transformer's weights first (once per loaded
    transformer); None uses the transformer as it is (a training loop's live adapter, or the base model). `text`: the
    prompt's and the negative prompt's embeddings (two rows) if already encoded; otherwise the components' text
    encoder encodes them and is released.
    """
    closing = closing_from_file(components, Path(closing_video), settings, loc)
    if text is None:
        text = encode_text(components, prompt, settings.negative_prompt)
        release_text(components)
    if lora_path is not None:
        merge_lora(components.transformer, lora_path)
    return extend_repeat(components, closing, text.to(components.device), settings, repeat)


def silent_closing(info: ProbeInfo, with_audio: bool, loc: Loc) -> ErrorDetail | None:
    """The 422 detail for a silent clip in a joint audio extension, else None. Training always kept the closing audio
    window clean, like the closing frames, so a LoRA trained with audio never learned to invent the whole soundtrack
    under a silent clip: that case is refused rather than sampled."""
    if not with_audio or info.has_audio:
        return None
    return ErrorDetail(
        loc=loc,
        type="missing_audio",
        msg="the video has no audio track, but the extension generates audio (the LoRA was trained "
        "with audio, always with the closing clip's own sound); give a clip with sound, or extend "
        "without audio (--without-audio)",
    )


def write_extension(ext: Extension, settings: ExtendSettings, out_path: Path, repeat: int = 1) -> ExtensionResult:
    """Write an extension's mp4 (with audio only when it has some) and describe it."""
    write_mp4(Path(out_path), ext.frames, settings.fps, ext.audio, ext.sample_rate)
    f, h, w, _ = ext.frames.shape
    return ExtensionResult(
        video_path=str(out_path),
        num_frames=f,
        fps=settings.fps,
        width=w,
        height=h,
        conditioning_frames=settings.conditioning_frames,
        lead_in_frames=f - settings.conditioning_frames,
        has_audio=ext.audio is not None,
        seam=ext.seams[0],
        seams=ext.seams,
        repeat=repeat,
        seed=settings.seed,
        steps=settings.steps,
    )
