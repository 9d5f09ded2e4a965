"""From fitted clips to the dataset manifest, the pre-flight checks around it, and the report users read.

`prepare` runs the whole intake in order (fetch, validation checks, extract, probe, scene split, fit, build) for the
CLI; the Prefect flow calls the same stage functions one task each. Every error here is a `RequestRejected` raised
before any training, so a refused job costs nothing.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ltxcore.errors import TOO_SHORT_MESSAGE, ErrorDetail, RequestRejected
from ltxcore.geometry import video_tokens
from ltxcore.intake.extract import extract_archive
from ltxcore.intake.fetch import fetch
from ltxcore.intake.fit import FitSettings, fit_clip
from ltxcore.intake.scenes import split_scenes
from ltxcore.job.request import ExtendSuffixRequest, ensure_sources_allowed
from ltxcore.manifests import (
    ArchiveRef,
    DatasetManifest,
    ExtractResult,
    FitResult,
    FittedClip,
    SkippedClip,
    SourceClip,
    ValidationClip,
)
from ltxcore.media.probe import ProbeError, probe, probe_clips
from ltxcore.store.stage import content_key, run_stage, write_manifest

LOC = ("body", "training_data_url")
RECOMMENDED_CLIPS = 10
NOT_VIDEOS = ("image", "unsupported")  # skip types that were never videos
_EPS = 1e-6


def build_dataset(
    fitted: Sequence[FittedClip],
    skipped: Sequence[SkippedClip],
    settings: FitSettings,
    *,
    conditioning_frames: int,
    validation: Sequence[ValidationClip] = (),
) -> DatasetManifest:
    """The dataset, or the 422 that explains why there is none (missing audio, all too short, no videos)."""
    require_audio(skipped)
    if not fitted:
        raise _no_clips(skipped)
    warnings = []
    files = {c.rel_path for c in fitted}
    if len(files) < RECOMMENDED_CLIPS:
        warnings.append(f"only {len(files)} usable video(s); at least {RECOMMENDED_CLIPS} are recommended")
    return DatasetManifest(
        clips=list(fitted), skipped=list(skipped), warnings=warnings, num_frames=settings.num_frames,
        fps=settings.fps, width=settings.width, height=settings.height, conditioning_frames=conditioning_frames,
        with_audio=settings.with_audio, validation=list(validation),
    )


def require_audio(entries: Sequence[SkippedClip | SourceClip]) -> None:
    """With audio extension on, every clip needs an audio track: name each one that has none."""
    missing = sorted({e.file for e in entries if isinstance(e, SkippedClip) and e.type == "no_audio"}
                     | {e.rel_path for e in entries if isinstance(e, SourceClip) and e.probe and not e.probe.has_audio})
    if missing:
        raise RequestRejected(
            ErrorDetail(loc=(*LOC, f), msg=f"{f} has no audio track; with_audio needs audio on every training clip",
                        type="missing_audio")
            for f in missing
        )


def _no_clips(skipped: Sequence[SkippedClip]) -> RequestRejected:
    videos = [s for s in skipped if s.type not in NOT_VIDEOS]
    if not videos:
        return RequestRejected.one(LOC, "the archive contains no videos (.mp4, .mov, .avi, .mkv)", "no_videos")
    if all(s.type == "too_short" for s in videos):
        return RequestRejected.one(LOC, TOO_SHORT_MESSAGE, "too_short")
    reasons = "; ".join(f"{s.file}: {s.reason}" for s in videos[:5])
    return RequestRejected.one(LOC, f"none of the {len(videos)} training videos can be used ({reasons})",
                               "no_usable_videos")


# --- validation clips ------------------------------------------------------------------------------------------


def check_validation_clips(
    request: ExtendSuffixRequest, work_dir: Path, *, allow_local: bool, allow_private_hosts: bool = False
) -> list[ValidationClip]:
    """Fetch and probe every validation video; one 422 naming each entry that cannot be extended."""
    found, problems = [], []
    for i, sample in enumerate(request.validation):
        loc = ("body", "validation", i, "video_url")
        ref = fetch(sample.video_url, work_dir / "validation", loc=loc, allow_local=allow_local,
                    allow_private_hosts=allow_private_hosts)
        try:
            info = probe(Path(ref.path))
        except ProbeError as exc:
            problems.append(ErrorDetail(loc=loc, msg=f"{sample.video_url} is not a usable video: {exc.reason}",
                                        type="bad_video"))
            continue
        frames = math.floor(info.duration * request.validation_frame_rate + _EPS)
        if frames < request.conditioning_frames:
            problems.append(ErrorDetail(
                loc=loc, type="too_short",
                msg=f"{sample.video_url} is {info.duration:.2f} s, {frames} frames at validation_frame_rate "
                f"{request.validation_frame_rate}; it must be at least conditioning_frames "
                f"({request.conditioning_frames}) long"))
        if request.with_audio and not info.has_audio:
            problems.append(ErrorDetail(
                loc=loc, type="missing_audio",
                msg=f"{sample.video_url} has no audio track; with_audio needs audio on every validation clip"))
        found.append(ValidationClip(index=i, url=sample.video_url, path=ref.path, prompt=sample.prompt, probe=info))
    if problems:
        raise RequestRejected(problems)
    return found


# --- the whole intake, in order ---------------------------------------------------------------------------------


def prepare(
    request: ExtendSuffixRequest, work_dir: Path, *, allow_local: bool = True, allow_private_hosts: bool = False,
    size: tuple[int, int] | None = None,
) -> DatasetManifest:
    """Run every intake stage under `work_dir/<stage>/<key>/`; a stage whose manifest exists is not redone.

    `size` replaces the request's bucket (a deployment's smoke-test setting, see `JobSettings.bucket_override`).
    """
    ensure_sources_allowed(request, allow_local)
    width, height = size or request.size
    settings = FitSettings.from_request(request, width=width, height=height)
    # Validation entries first: they are small, and a bad one must fail the job before the heavy work.
    validation = check_validation_clips(request, work_dir, allow_local=allow_local,
                                        allow_private_hosts=allow_private_hosts)
    archive = fetch(request.training_data_url, work_dir / "fetch", loc=LOC, allow_local=allow_local,
                    allow_private_hosts=allow_private_hosts)
    clips = probe_stage(extract_stage(archive, work_dir), work_dir)
    if request.with_audio:
        require_audio(clips.clips)  # before decoding anything: the user fixes the archive and resubmits
    sources = clips.clips
    if request.split_input_into_scenes:
        sources = [s for c in clips.clips for s in split_stage(c, request.split_input_duration_threshold, work_dir)]
    fitted: list[FittedClip] = []
    skipped = list(clips.skipped)
    for clip in sources:
        result = fit_stage(clip, settings, work_dir)
        fitted += result.clips
        skipped += [result.skipped] if result.skipped else []
    manifest = build_dataset(fitted, skipped, settings, conditioning_frames=request.conditioning_frames,
                             validation=validation)
    key = content_key("dataset", 1, manifest=manifest, debug=request.debug_dataset)
    out = work_dir / "dataset" / key
    if request.debug_dataset:
        from ltxcore.intake.debug_zip import write_debug_dataset  # it imports this module for `summary`

        if not (out / "debug_dataset.zip").is_file():
            write_debug_dataset(manifest, out / "debug_dataset.zip")
    write_manifest(out / "dataset.json", manifest)
    return manifest


# --- one content-addressed step per stage: the CLI's `prepare` and the Prefect tasks both call these ---------------


def extract_stage(archive: ArchiveRef, work_dir: Path) -> ExtractResult:
    return run_stage(work_dir, "extract", 1, {"sha256": archive.sha256}, ExtractResult,
                     lambda out: extract_archive(archive, out))


def probe_stage(clips: ExtractResult, work_dir: Path) -> ExtractResult:
    return run_stage(work_dir, "probe", 1, {"clips": clips}, ExtractResult, lambda _out: probe_clips(clips))


def split_stage(clip: SourceClip, threshold_s: float, work_dir: Path) -> list[SourceClip]:
    out = work_dir / "split" / content_key("split", 1, clip=clip, threshold=threshold_s)
    return split_scenes(clip, threshold_s, out)


def fit_stage(clip: SourceClip, settings: FitSettings, work_dir: Path) -> FitResult:
    def run(out: Path) -> FitResult:
        result = fit_clip(clip, settings, out)
        return FitResult(skipped=result) if isinstance(result, SkippedClip) else FitResult(clips=result)

    return run_stage(work_dir, "fit", 1, {"clip": clip, "settings": settings}, FitResult, run)


# --- the report -------------------------------------------------------------------------------------------------


def summary(manifest: DatasetManifest) -> dict[str, Any]:
    """What was kept and skipped, and why, in plain data: the CLI prints it as JSON, the flow as a table."""
    tokens = video_tokens(manifest.width, manifest.height, manifest.num_frames)
    kept = [
        {
            "id": c.id,
            "file": c.rel_path,
            "source_window_s": [c.source_start, c.source_end],
            "source_seconds": round(c.source_end - c.source_start, 3),
            "fps_conversion": f"{_rate(c.source_fps)} -> {_rate(c.fps)}",
            "stretch_ratio": c.speed,
            "frames": c.num_frames,
            "size": f"{c.width}x{c.height}",
            "tokens": tokens,
            "audio": c.audio_path is not None,
            "caption": c.caption,
        }
        for c in manifest.clips
    ]
    skipped = [{"file": s.file, "reason": s.reason, "type": s.type} for s in manifest.skipped]
    return {
        "kept": kept,
        "skipped": skipped,
        "counts": {
            "kept_clips": len(kept),
            "kept_files": len({c.rel_path for c in manifest.clips}),
            "skipped": len(skipped),
            "skipped_by_reason": dict(Counter(s.type for s in manifest.skipped)),
        },
        "seconds_of_video": round(len(kept) * manifest.num_frames / manifest.fps, 3),
        "tokens_per_clip": tokens,
        "geometry": {"num_frames": manifest.num_frames, "fps": manifest.fps, "width": manifest.width,
                     "height": manifest.height, "conditioning_frames": manifest.conditioning_frames,
                     "with_audio": manifest.with_audio},
        "warnings": list(manifest.warnings),
    }


def _rate(fps: float | None) -> str:
    return "?" if fps is None else f"{fps:.3f}".rstrip("0").rstrip(".")
