"""Intake stages as Prefect tasks: each wraps one ltxcore call and returns a small manifest."""

from __future__ import annotations

from pathlib import Path

from prefect import unmapped
from prefect.artifacts import create_table_artifact
from prefect.task_runners import TaskRunner

from ltxcore.intake import build
from ltxcore.intake.debug_zip import debug_zip_stage
from ltxcore.intake.fit import FitSettings
from ltxcore.intake.report import summary
from ltxcore.intake.validation import ValidationSpec, validation_stage
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
from tasks.common import IO_RETRIES, stage_task
from tasks.model import prefit


@stage_task(name="check-validation-clips", **IO_RETRIES)
def validation_clips(spec: ValidationSpec, settings: JobSettings) -> list[ValidationClip]:
    return validation_stage(spec, Path(settings.work_root), **_allowed(settings))


@stage_task(name="fetch-archive", **IO_RETRIES)
def fetch_archive(url: str, settings: JobSettings) -> ArchiveRef:
    return build.fetch_stage(url, Path(settings.work_root), **_allowed(settings))


def _allowed(settings: JobSettings) -> dict[str, bool]:
    return {"allow_local": settings.allow_local_inputs, "allow_private_hosts": settings.allow_private_hosts}


@stage_task(name="extract-archive")
def extract(archive: ArchiveRef, settings: JobSettings) -> ExtractResult:
    return build.extract_stage(archive, Path(settings.work_root))


@stage_task(name="probe-clips")
def probe(clips: ExtractResult, with_audio: bool, settings: JobSettings) -> ExtractResult:
    return build.probe_stage(clips, Path(settings.work_root), with_audio=with_audio)


@stage_task(name="split-scenes", task_run_name="split-{clip.id}")
def split(clip: SourceClip, threshold_s: float, settings: JobSettings) -> list[SourceClip]:
    return build.split_stage(clip, threshold_s, Path(settings.work_root))


@stage_task(name="fit-clip", task_run_name="fit-{clip.id}")
def fit(clip: SourceClip, fit_settings: FitSettings, settings: JobSettings) -> FitResult:
    return build.fit_stage(clip, fit_settings, Path(settings.work_root))


@stage_task(name="build-dataset")
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


@stage_task(name="debug-dataset")
def debug_zip(manifest: DatasetManifest, settings: JobSettings) -> str:
    return str(debug_zip_stage(manifest, Path(settings.work_root)))


class TaskStages:
    """The intake recipe's stages as this module's Prefect tasks; split and fit are mapped over `runner` (the task
    runner the deployment's settings name, chosen when the run starts, and entered by the caller)."""

    def __init__(self, runner: TaskRunner) -> None:
        self.runner = runner

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
        params = {"clip": clips, "threshold_s": unmapped(threshold_s), "settings": unmapped(settings)}
        scenes = self.runner.map(split, params).result()
        return [scene for group in scenes for scene in group]

    def fit(self, clips: list[SourceClip], fit_settings: FitSettings, settings: JobSettings) -> list[FitResult]:
        params = {"clip": clips, "fit_settings": unmapped(fit_settings), "settings": unmapped(settings)}
        return self.runner.map(fit, params).result()

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
