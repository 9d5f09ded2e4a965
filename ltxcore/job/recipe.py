"""The intake recipe, written once: which stage runs after which. The flow walks it with Prefect tasks
(`tasks.dataset.TaskStages`), `extend-suffix prepare` with the library functions (`ltxcore.job.prepare.LIBRARY`); both
call the same stage functions underneath, so they share every directory and every cached result. A new stage is a
method of `IntakeStages`, its two one-line implementations, and its place here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ltxcore.intake.fit import FitSettings
from ltxcore.intake.validation import ValidationSpec
from ltxcore.job.plan import JobPlan
from ltxcore.job.settings import JobSettings
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


class IntakeStages(Protocol):
    """One call per intake stage. `split` and `fit` take every clip at once, so a runner may map them."""

    def validation_clips(self, spec: ValidationSpec, settings: JobSettings) -> list[ValidationClip]: ...
    def prefit(self, validation: list[ValidationClip], extend: ExtendSettings) -> None: ...
    def fetch_archive(self, url: str, settings: JobSettings) -> ArchiveRef: ...
    def extract(self, archive: ArchiveRef, settings: JobSettings) -> ExtractResult: ...
    def probe(self, clips: ExtractResult, with_audio: bool, settings: JobSettings) -> ExtractResult: ...
    def split(self, clips: list[SourceClip], threshold_s: float, settings: JobSettings) -> list[SourceClip]: ...
    def fit(self, clips: list[SourceClip], fit_settings: FitSettings, settings: JobSettings) -> list[FitResult]: ...
    def build_dataset(
        self,
        fitted: list[FitResult],
        skipped: list[SkippedClip],
        fit_settings: FitSettings,
        conditioning_frames: int,
        trigger_phrase: str,
        settings: JobSettings,
    ) -> DatasetManifest: ...
    def debug_zip(self, manifest: DatasetManifest, settings: JobSettings) -> str: ...


@dataclass(frozen=True)
class Intake:
    validation: list[ValidationClip]
    dataset: DatasetManifest
    debug_zip: str | None


def run_intake(plan: JobPlan, stages: IntakeStages) -> Intake:
    """Every intake stage in order, under the plan's settings."""
    settings = plan.settings
    # 1. validation clips first: they are small, and a bad one must fail the job before the heavy work; then the
    # reel's own fitting, so a clip it cannot use fails now and not after training
    validation = stages.validation_clips(plan.validation, settings)
    if plan.extend:
        stages.prefit(validation, plan.extend)
    # 2. the archive: fetch, extract, probe (the audio rule), split long clips into scenes, fit every clip
    archive = stages.fetch_archive(plan.training_data_url, settings)
    probed = stages.probe(stages.extract(archive, settings), plan.with_audio, settings)
    sources = probed.clips
    if plan.scene_threshold_s is not None:
        sources = stages.split(sources, plan.scene_threshold_s, settings)
    fitted = stages.fit(sources, plan.fit, settings)
    # 3. the dataset: the trigger phrase goes into the captions here, after fitting, so changing it re-runs no ffmpeg
    manifest = stages.build_dataset(
        fitted, probed.skipped, plan.fit, plan.conditioning_frames, plan.trigger_phrase, settings
    )
    debug_zip = stages.debug_zip(manifest, settings) if plan.debug_dataset else None
    return Intake(validation=validation, dataset=manifest, debug_zip=debug_zip)
