"""The CLI's pre-flight: the intake recipe (`ltxcore.job.recipe`) walked with plain library calls, without Prefect.
Each call is the one the Prefect tasks make, so the CLI and the flow share every directory and every cached result."""

from __future__ import annotations

from pathlib import Path

from ltxcore.intake import build
from ltxcore.intake.debug_zip import debug_zip_stage
from ltxcore.intake.fit import FitSettings
from ltxcore.intake.validation import ValidationSpec, validation_stage
from ltxcore.job.plan import JobPlan
from ltxcore.job.recipe import run_intake
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
from ltxcore.sample.prefit import prefit_validation


class LibraryStages:
    """The intake stages as the library's own functions, one after another in this process."""

    def validation_clips(self, spec: ValidationSpec, settings: JobSettings) -> list[ValidationClip]:
        return validation_stage(spec, Path(settings.work_root), **_allowed(settings))

    def prefit(self, validation: list[ValidationClip], extend: ExtendSettings) -> None:
        prefit_validation(validation, extend)

    def fetch_archive(self, url: str, settings: JobSettings) -> ArchiveRef:
        return build.fetch_stage(url, Path(settings.work_root), **_allowed(settings))

    def extract(self, archive: ArchiveRef, settings: JobSettings) -> ExtractResult:
        return build.extract_stage(archive, Path(settings.work_root))

    def probe(self, clips: ExtractResult, with_audio: bool, settings: JobSettings) -> ExtractResult:
        return build.probe_stage(clips, Path(settings.work_root), with_audio=with_audio)

    def split(self, clips: list[SourceClip], threshold_s: float, settings: JobSettings) -> list[SourceClip]:
        work = Path(settings.work_root)
        return [scene for clip in clips for scene in build.split_stage(clip, threshold_s, work)]

    def fit(self, clips: list[SourceClip], fit_settings: FitSettings, settings: JobSettings) -> list[FitResult]:
        return [build.fit_stage(clip, fit_settings, Path(settings.work_root)) for clip in clips]

    def build_dataset(
        self,
        fitted: list[FitResult],
        skipped: list[SkippedClip],
        fit_settings: FitSettings,
        conditioning_frames: int,
        trigger_phrase: str,
        settings: JobSettings,
    ) -> DatasetManifest:
        work = Path(settings.work_root)
        return build.dataset_stage(fitted, skipped, fit_settings, conditioning_frames, work, trigger_phrase)

    def debug_zip(self, manifest: DatasetManifest, settings: JobSettings) -> str:
        return str(debug_zip_stage(manifest, Path(settings.work_root)))


LIBRARY = LibraryStages()


def prepare(plan: JobPlan) -> DatasetManifest:
    """Run every intake stage under the plan's work root; a stage whose manifest exists is not redone."""
    return run_intake(plan, LIBRARY).dataset


def _allowed(settings: JobSettings) -> dict[str, bool]:
    return {"allow_local": settings.allow_local_inputs, "allow_private_hosts": settings.allow_private_hosts}
