"""Intake stages as Prefect tasks: each wraps one ltxcore function and returns a small manifest."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_table_artifact

from ltxcore.intake import build as dataset
from ltxcore.intake import validation
from ltxcore.intake.debug_zip import write_debug_dataset
from ltxcore.intake.fetch import fetch
from ltxcore.intake.fit import FitSettings
from ltxcore.intake.report import summary
from ltxcore.job.request import ExtendSuffixRequest
from ltxcore.manifests import (
    ArchiveRef,
    DatasetManifest,
    ExtractResult,
    FitResult,
    SkippedClip,
    SourceClip,
    ValidationClip,
)
from ltxcore.settings import JobSettings
from ltxcore.store.keys import content_key
from ltxcore.store.mirror import mirrored
from tasks.common import CACHE_FOR, IO_RETRIES, stage_key


@task(name="check-validation-clips", cache_key_fn=stage_key("validation", 1), cache_expiration=CACHE_FOR, **IO_RETRIES)
@mirrored
def check_validation_clips(request: ExtendSuffixRequest, settings: JobSettings) -> list[ValidationClip]:
    return validation.check_validation_clips(
        request,
        Path(settings.work_root),
        allow_local=settings.allow_local_inputs,
        allow_private_hosts=settings.allow_private_hosts,
    )


@task(name="fetch-archive", cache_key_fn=stage_key("fetch", 1), cache_expiration=CACHE_FOR, **IO_RETRIES)
@mirrored
def fetch_archive(url: str, settings: JobSettings) -> ArchiveRef:
    return fetch(
        url,
        Path(settings.work_root) / "fetch",
        loc=dataset.LOC,
        allow_local=settings.allow_local_inputs,
        allow_private_hosts=settings.allow_private_hosts,
    )


@task(name="extract-archive", cache_key_fn=stage_key("extract", 1), cache_expiration=CACHE_FOR)
@mirrored
def extract(archive: ArchiveRef, work_root: str) -> ExtractResult:
    return dataset.extract_stage(archive, Path(work_root))


@task(name="probe-clips", cache_key_fn=stage_key("probe", 1), cache_expiration=CACHE_FOR)
@mirrored
def probe(clips: ExtractResult, work_root: str, with_audio: bool) -> ExtractResult:
    probed = dataset.probe_stage(clips, Path(work_root))
    if with_audio:
        dataset.require_audio(probed.clips)  # before decoding anything
    return probed


@task(
    name="split-scenes", task_run_name="split-{clip.id}", cache_key_fn=stage_key("split", 1), cache_expiration=CACHE_FOR
)
@mirrored
def split(clip: SourceClip, threshold_s: float, work_root: str) -> list[SourceClip]:
    return dataset.split_stage(clip, threshold_s, Path(work_root))


@task(name="fit-clip", task_run_name="fit-{clip.id}", cache_key_fn=stage_key("fit", 1), cache_expiration=CACHE_FOR)
@mirrored
def fit(clip: SourceClip, settings: FitSettings, work_root: str) -> FitResult:
    return dataset.fit_stage(clip, settings, Path(work_root))


@task(name="build-dataset", cache_key_fn=stage_key("dataset", 1), cache_expiration=CACHE_FOR)
@mirrored
def build(
    fitted: list[FitResult],
    skipped: list[SkippedClip],
    settings: FitSettings,
    conditioning_frames: int,
    validation: list[ValidationClip],
) -> DatasetManifest:
    manifest = dataset.build_dataset(
        [c for r in fitted for c in r.clips],
        [*skipped, *(r.skipped for r in fitted if r.skipped)],
        settings,
        conditioning_frames=conditioning_frames,
        validation=validation,
    )
    report = summary(manifest)
    rows = [
        {k: r[k] for k in ("file", "source_seconds", "fps_conversion", "stretch_ratio", "frames", "size", "tokens")}
        | {"status": "kept"}
        for r in report["kept"]
    ]
    rows += [{"file": s["file"], "status": f"skipped: {s['reason']}"} for s in report["skipped"]]
    create_table_artifact(
        rows,
        key="dataset-report",
        description=f"{report['counts']['kept_clips']} training windows from "
        f"{report['counts']['kept_files']} files; {report['counts']['skipped']} skipped. "
        + " ".join(report["warnings"]),
    )
    return manifest


@task(name="debug-dataset", cache_key_fn=stage_key("debug-dataset", 1), cache_expiration=CACHE_FOR)
@mirrored
def debug_zip(manifest: DatasetManifest, work_root: str) -> str:
    out = Path(work_root) / "debug-dataset" / content_key("debug-dataset", 1, manifest=manifest) / "debug_dataset.zip"
    if not out.is_file():
        write_debug_dataset(manifest, out)
    return str(out)
