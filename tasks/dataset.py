"""Intake stages as Prefect tasks: each wraps one ltxcore call and returns a small manifest."""

from __future__ import annotations

from pathlib import Path

from prefect import task, unmapped
from prefect.artifacts import create_table_artifact

from ltxcore.intake import build
from ltxcore.intake.debug_zip import debug_zip_stage
from ltxcore.intake.fetch import fetch
from ltxcore.intake.fit import FitSettings
from ltxcore.intake.report import summary
from ltxcore.intake.validation import ValidationSpec, check_validation_clips
from ltxcore.job.estimate import deployment_markdown
from ltxcore.job.settings import JobSettings
from ltxcore.job.workload import Workload
from ltxcore.manifests import (
    ArchiveRef,
    DatasetManifest,
    ExtractResult,
    FitResult,
    SkippedClip,
    SourceClip,
    ValidationClip,
)
from ltxcore.sample.extend import ExtendSettings
from ltxcore.store import stages
from tasks.common import CACHE_FOR, IO_RETRIES, RECEIPT, metered, mirrored, stage_key
from tasks.model import prefit

ALLOWED = ("settings.allow_local_inputs", "settings.allow_private_hosts")


@task(
    name="check-validation-clips",
    cache_key_fn=stage_key(stages.VALIDATION, "spec", *ALLOWED),
    cache_expiration=CACHE_FOR,
    **IO_RETRIES,
    **RECEIPT,
)
@metered
@mirrored
def validation_clips(spec: ValidationSpec, settings: JobSettings) -> list[ValidationClip]:
    return check_validation_clips(
        spec,
        Path(settings.work_root),
        allow_local=settings.allow_local_inputs,
        allow_private_hosts=settings.allow_private_hosts,
    )


@task(
    name="fetch-archive",
    cache_key_fn=stage_key(stages.FETCH, "url", *ALLOWED),
    cache_expiration=CACHE_FOR,
    **IO_RETRIES,
    **RECEIPT,
)
@metered
@mirrored
def fetch_archive(url: str, settings: JobSettings) -> ArchiveRef:
    return fetch(
        url,
        Path(settings.work_root) / stages.FETCH.name,
        loc=build.LOC,
        allow_local=settings.allow_local_inputs,
        allow_private_hosts=settings.allow_private_hosts,
    )


@task(
    name="extract-archive",
    cache_key_fn=stage_key(stages.EXTRACT, "archive.sha256"),
    cache_expiration=CACHE_FOR,
    **RECEIPT,
)
@metered
@mirrored
def extract(archive: ArchiveRef, settings: JobSettings) -> ExtractResult:
    return build.extract_stage(archive, Path(settings.work_root))


@task(
    name="probe-clips",
    cache_key_fn=stage_key(stages.PROBE, "clips", "with_audio"),
    cache_expiration=CACHE_FOR,
    **RECEIPT,
)
@metered
@mirrored
def probe(clips: ExtractResult, with_audio: bool, settings: JobSettings) -> ExtractResult:
    return build.probe_stage(clips, Path(settings.work_root), with_audio=with_audio)


@task(
    name="split-scenes",
    task_run_name="split-{clip.id}",
    cache_key_fn=stage_key(stages.SPLIT, "clip", "threshold_s"),
    cache_expiration=CACHE_FOR,
    **RECEIPT,
)
@metered
@mirrored
def split(clip: SourceClip, threshold_s: float, settings: JobSettings) -> list[SourceClip]:
    return build.split_stage(clip, threshold_s, Path(settings.work_root))


@task(
    name="fit-clip",
    task_run_name="fit-{clip.id}",
    cache_key_fn=stage_key(stages.FIT, "clip", settings="fit_settings"),
    cache_expiration=CACHE_FOR,
    **RECEIPT,
)
@metered
@mirrored
def fit(clip: SourceClip, fit_settings: FitSettings, settings: JobSettings) -> FitResult:
    return build.fit_stage(clip, fit_settings, Path(settings.work_root))


@task(
    name="build-dataset",
    cache_key_fn=stage_key(
        stages.DATASET, "fitted", "skipped", "conditioning_frames", "trigger_phrase", settings="fit_settings"
    ),
    cache_expiration=CACHE_FOR,
    **RECEIPT,
)
@metered
@mirrored
def build_dataset(
    fitted: list[FitResult],
    skipped: list[SkippedClip],
    fit_settings: FitSettings,
    conditioning_frames: int,
    trigger_phrase: str,
    settings: JobSettings,
) -> DatasetManifest:
    work = Path(settings.work_root)
    return build.dataset_stage(fitted, skipped, fit_settings, conditioning_frames, work, trigger_phrase)


def dataset_report(manifest: DatasetManifest, workload: Workload, gpu: str | None) -> None:
    """The `dataset-report` artifact: every kept window and skipped file, and under it the pre-flight table on the
    deployment's GPU (EXTEND_SUFFIX_GPU) for this dataset's size. Drawn by the flow after the stage, so a run whose
    dataset stage was Cached shows it too."""
    preflight = deployment_markdown(workload.model_copy(update={"clips": len(manifest.clips)}), gpu) if gpu else ""
    report = summary(manifest)
    columns = ("file", "source_seconds", "fps_conversion", "stretch_ratio", "frames", "size", "tokens")
    rows = [{k: r[k] for k in columns} | {"status": "kept"} for r in report["kept"]]
    rows += [{"file": s["file"], "status": f"skipped: {s['reason']}"} for s in report["skipped"]]
    counts = report["counts"]
    create_table_artifact(
        rows,
        key="dataset-report",
        description=f"{counts['kept_clips']} training windows from {counts['kept_files']} files; "
        f"{counts['skipped']} skipped. " + " ".join(report["warnings"]) + (f"\n\n{preflight}" if preflight else ""),
    )


@task(
    name="debug-dataset",
    cache_key_fn=stage_key(stages.DEBUG_DATASET, "manifest"),
    cache_expiration=CACHE_FOR,
    **RECEIPT,
)
@metered
@mirrored
def debug_zip(manifest: DatasetManifest, settings: JobSettings) -> str:
    return str(debug_zip_stage(manifest, Path(settings.work_root)))


class TaskStages:
    """The intake recipe's stages as this module's Prefect tasks; split and fit are mapped over the task runner."""

    def validation_clips(self, spec: ValidationSpec, settings: JobSettings) -> list[ValidationClip]:
        return validation_clips(spec, settings)

    def prefit(self, validation: list[ValidationClip], extend: ExtendSettings) -> None:
        prefit(validation, extend)

    def fetch_archive(self, url: str, settings: JobSettings) -> ArchiveRef:
        return fetch_archive(url, settings)

    def extract(self, archive: ArchiveRef, settings: JobSettings) -> ExtractResult:
        return extract(archive, settings)

    def probe(self, clips: ExtractResult, with_audio: bool, settings: JobSettings) -> ExtractResult:
        return probe(clips, with_audio, settings)

    def split(self, clips: list[SourceClip], threshold_s: float, settings: JobSettings) -> list[SourceClip]:
        scenes = split.map(clips, unmapped(threshold_s), unmapped(settings)).result()
        return [scene for group in scenes for scene in group]

    def fit(self, clips: list[SourceClip], fit_settings: FitSettings, settings: JobSettings) -> list[FitResult]:
        return fit.map(clips, unmapped(fit_settings), unmapped(settings)).result()

    def build_dataset(
        self,
        fitted: list[FitResult],
        skipped: list[SkippedClip],
        fit_settings: FitSettings,
        conditioning_frames: int,
        trigger_phrase: str,
        settings: JobSettings,
    ) -> DatasetManifest:
        return build_dataset(fitted, skipped, fit_settings, conditioning_frames, trigger_phrase, settings)

    def debug_zip(self, manifest: DatasetManifest, settings: JobSettings) -> str:
        return debug_zip(manifest, settings)


TASKS = TaskStages()
