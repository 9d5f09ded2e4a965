"""The CLI's pre-flight recipe: every intake stage in the flow's order, as plain calls without Prefect. Each stage
function is the one the Prefect tasks call, so the CLI and the flow share every directory and every cached result."""

from __future__ import annotations

from pathlib import Path

from ltxcore.intake import build
from ltxcore.intake.debug_zip import debug_zip_stage
from ltxcore.intake.fetch import fetch
from ltxcore.intake.validation import check_validation_clips
from ltxcore.job.plan import JobPlan
from ltxcore.manifests import DatasetManifest, FitResult
from ltxcore.sample.prefit import prefit_validation
from ltxcore.store.stages import FETCH


def prepare(plan: JobPlan) -> DatasetManifest:
    """Run every intake stage under the plan's work root; a stage whose manifest exists is not redone."""
    settings = plan.settings
    work = Path(settings.work_root)
    allow = {"allow_local": settings.allow_local_inputs, "allow_private_hosts": settings.allow_private_hosts}
    # Validation entries first: they are small, and a bad one must fail the job before the heavy work.
    validation = check_validation_clips(plan.validation, work, **allow)
    if plan.extend:
        prefit_validation(validation, plan.extend)  # the reel's own fitting: a clip it cannot use fails now
    archive = fetch(plan.training_data_url, work / FETCH.name, loc=build.LOC, **allow)
    probed = build.probe_stage(build.extract_stage(archive, work), work, with_audio=plan.with_audio)
    sources = probed.clips
    if plan.scene_threshold_s is not None:
        sources = [scene for clip in sources for scene in build.split_stage(clip, plan.scene_threshold_s, work)]
    fitted: list[FitResult] = [build.fit_stage(clip, plan.fit, work) for clip in sources]
    manifest = build.dataset_stage(
        fitted, probed.skipped, plan.fit, plan.conditioning_frames, work, plan.trigger_phrase
    )
    if plan.debug_dataset:
        debug_zip_stage(manifest, work)
    return manifest
