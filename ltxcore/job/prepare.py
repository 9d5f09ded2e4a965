"""The CLI's pre-flight recipe: every intake stage in order, without Prefect."""

from __future__ import annotations

from pathlib import Path

from ltxcore.intake.build import LOC, build_dataset, extract_stage, fit_stage, probe_stage, require_audio, split_stage
from ltxcore.intake.debug_zip import write_debug_dataset
from ltxcore.intake.fetch import fetch
from ltxcore.intake.fit import FitSettings
from ltxcore.intake.validation import check_validation_clips
from ltxcore.job.request import ExtendSuffixRequest, ensure_sources_allowed
from ltxcore.manifests import DatasetManifest, FittedClip
from ltxcore.store.atomic import write_manifest
from ltxcore.store.stages import DATASET


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
    out = DATASET.dir(work_dir, manifest=manifest, debug=request.debug_dataset)
    if request.debug_dataset and not (out / "debug_dataset.zip").is_file():
        write_debug_dataset(manifest, out / "debug_dataset.zip")
    write_manifest(out / "dataset.json", manifest)
    return manifest
