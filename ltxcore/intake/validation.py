"""Validation clips: fetched and probed first, so a closing clip the reel cannot use fails the job up front.

This checks length and audio from the probe; `ltxcore.sample.prefit.prefit_validation` then fits every clip with the
reel's own code before any encoding or training, which also catches a clip that probes well but does not decode.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ltxcore.errors import ErrorDetail, RequestRejected
from ltxcore.intake.fetch import fetch
from ltxcore.intake.fit import whole_frames
from ltxcore.manifests import ValidationClip
from ltxcore.media.probe import ProbeError, probe
from ltxcore.store.stages import VALIDATION


class ValidationEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    video_url: str
    prompt: str = ""


class ValidationSpec(BaseModel):
    """What the validation clips must satisfy: the part of the request that concerns them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entries: list[ValidationEntry]
    validation_frame_rate: int
    conditioning_frames: int
    with_audio: bool


class ValidationClips(BaseModel):
    """The validation stage's manifest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    clips: list[ValidationClip]


def validation_stage(
    spec: ValidationSpec, work_dir: Path, *, allow_local: bool, allow_private_hosts: bool
) -> list[ValidationClip]:
    """`check_validation_clips` once per spec and allow-lists, under `validation/<key>/`."""
    parts = {"spec": spec, "allow_local_inputs": allow_local, "allow_private_hosts": allow_private_hosts}

    def run(out: Path) -> ValidationClips:
        found = check_validation_clips(spec, out, allow_local=allow_local, allow_private_hosts=allow_private_hosts)
        return ValidationClips(clips=found)

    return VALIDATION.run(work_dir, parts, ValidationClips, run).clips


def check_validation_clips(
    spec: ValidationSpec, work_dir: Path, *, allow_local: bool, allow_private_hosts: bool = False
) -> list[ValidationClip]:
    """Fetch and probe every validation video; one 422 naming each entry that cannot be extended."""
    found, problems = [], []
    for i, sample in enumerate(spec.entries):
        loc = ("body", "validation", i, "video_url")
        ref = fetch(
            sample.video_url,
            work_dir / "validation",
            loc=loc,
            allow_local=allow_local,
            allow_private_hosts=allow_private_hosts,
        )
        try:
            info = probe(Path(ref.path))
        except ProbeError as exc:
            problems.append(
                ErrorDetail(loc=loc, msg=f"{sample.video_url} is not a usable video: {exc.reason}", type="bad_video")
            )
            continue
        frames = whole_frames(info.duration, spec.validation_frame_rate)  # counted as fitting counts them
        if frames < spec.conditioning_frames:
            problems.append(
                ErrorDetail(
                    loc=loc,
                    type="too_short",
                    msg=f"{sample.video_url} is {info.duration:.2f} s, {frames} frames at validation_frame_rate "
                    f"{spec.validation_frame_rate}; it must be at least conditioning_frames "
                    f"({spec.conditioning_frames}) long",
                )
            )
        if spec.with_audio and not info.has_audio:
            problems.append(
                ErrorDetail(
                    loc=loc,
                    type="missing_audio",
                    msg=f"{sample.video_url} has no audio track; with_audio needs audio on every validation clip",
                )
            )
        found.append(ValidationClip(index=i, url=sample.video_url, path=ref.path, prompt=sample.prompt, probe=info))
    if problems:
        raise RequestRejected(problems)
    return found
