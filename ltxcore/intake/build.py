"""From fitted clips to the dataset manifest, and one content-addressed step per intake stage.

The CLI's `prepare` (ltxcore.job.prepare) and the Prefect tasks both call these stage functions. Every error here is
a `RequestRejected` raised before any training, so a refused job costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ltxcore.errors import TOO_SHORT_MESSAGE, ErrorDetail, RequestRejected
from ltxcore.intake.audio_check import screen_audio
from ltxcore.intake.extract import extract_archive
from ltxcore.intake.fetch import fetch
from ltxcore.intake.fit import FitSettings, fit_clip
from ltxcore.intake.scenes import split_scenes
from ltxcore.intake.trigger import with_trigger_phrase
from ltxcore.manifests import (
    ArchiveRef,
    DatasetManifest,
    ExtractResult,
    FitResult,
    FittedClip,
    SkippedClip,
    SourceClip,
)
from ltxcore.media.probe import probe_clips
from ltxcore.store.stage import compute_once, reuse
from ltxcore.store.stages import DATASET, EXTRACT, FETCH, FIT, PROBE, SPLIT

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
        clips=list(fitted),
        skipped=list(skipped),
        warnings=warnings,
        num_frames=settings.num_frames,
        fps=settings.fps,
        width=settings.width,
        height=settings.height,
        conditioning_frames=conditioning_frames,
        with_audio=settings.with_audio,
    )


def require_audio(entries: Sequence[SkippedClip | SourceClip]) -> None:
    """With audio extension on, every clip needs an audio track: name each one that has none."""
    missing = sorted(
        {e.file for e in entries if isinstance(e, SkippedClip) and e.type == "no_audio"}
        | {e.rel_path for e in entries if isinstance(e, SourceClip) and e.probe and not e.probe.has_audio}
    )
    if missing:
        raise RequestRejected(
            ErrorDetail(
                loc=(*LOC, f),
                msg=f"{f} has no audio track; with_audio needs audio on every training clip",
                type="missing_audio",
            )
            for f in missing
        )


def _no_clips(skipped: Sequence[SkippedClip]) -> RequestRejected:
    videos = [s for s in skipped if s.type not in NOT_VIDEOS]
    if not videos:
        return RequestRejected.one(LOC, "the archive contains no videos (.mp4, .mov, .avi, .mkv)", "no_videos")
    if all(s.type == "too_short" for s in videos):
        return RequestRejected.one(LOC, TOO_SHORT_MESSAGE, "too_short")
    reasons = "; ".join(f"{s.file}: {s.reason}" for s in videos[:5])
    return RequestRejected.one(
        LOC, f"none of the {len(videos)} training videos can be used ({reasons})", "no_usable_videos"
    )


# --- one content-addressed step per stage: the CLI's `prepare` and the Prefect tasks both call these ---------------


def fetch_stage(url: str, work_dir: Path, *, allow_local: bool, allow_private_hosts: bool) -> ArchiveRef:
    """The archive at `url`, fetched once per URL into `fetch/<key>/` (a new archive needs a new URL). The
    deployment's allow-lists are part of the key: a copy fetched where local paths were allowed is never handed to a
    deployment that refuses them."""
    parts = {"url": url, "allow_local_inputs": allow_local, "allow_private_hosts": allow_private_hosts}
    return FETCH.run(
        work_dir,
        parts,
        ArchiveRef,
        lambda out: fetch(url, out, loc=LOC, allow_local=allow_local, allow_private_hosts=allow_private_hosts),
    )


def extract_stage(archive: ArchiveRef, work_dir: Path) -> ExtractResult:
    return EXTRACT.run(work_dir, {"sha256": archive.sha256}, ExtractResult, lambda out: extract_archive(archive, out))


def probe_stage(clips: ExtractResult, work_dir: Path, *, with_audio: bool) -> ExtractResult:
    """Probe every clip; with audio extension on, a clip without audio fails the job here, before any decoding, so
    the user fixes the archive and resubmits."""
    probed = PROBE.run(work_dir, {"clips": clips}, ExtractResult, lambda _out: probe_clips(clips))
    if with_audio:
        require_audio(probed.clips)
    return probed


def split_stage(clip: SourceClip, threshold_s: float, work_dir: Path) -> list[SourceClip]:
    out = SPLIT.dir(work_dir, clip=clip, threshold_s=threshold_s)
    return split_scenes(clip, threshold_s, out)


def fit_stage(clip: SourceClip, settings: FitSettings, work_dir: Path) -> FitResult:
    def run(out: Path) -> FitResult:
        result = fit_clip(clip, settings, out)
        return FitResult(skipped=result) if isinstance(result, SkippedClip) else FitResult(clips=result)

    return FIT.run(work_dir, {"clip": clip, "settings": settings}, FitResult, run)


def dataset_stage(
    fitted: Sequence[FitResult],
    skipped: Sequence[SkippedClip],
    settings: FitSettings,
    conditioning_frames: int,
    work_dir: Path,
    trigger_phrase: str = "",
) -> DatasetManifest:
    """Every fitted window and every skipped file into the dataset, written as `dataset/<key>/dataset.json`; the
    trigger phrase goes first in every caption here, after fitting, so a new one re-runs no ffmpeg."""
    parts = {
        "fitted": fitted,
        "skipped": skipped,
        "settings": settings,
        "conditioning_frames": conditioning_frames,
        "trigger_phrase": trigger_phrase,
    }
    out = DATASET.dir(work_dir, **parts)
    done = reuse(out, DatasetManifest, "dataset.json")  # before the audio screen, which reads every window's audio
    if done is not None:
        return done
    clips = [c for r in fitted for c in with_trigger_phrase(r, trigger_phrase).clips]
    skips = [*skipped, *(r.skipped for r in fitted if r.skipped)]
    quiet: list[str] = []
    if settings.with_audio:  # silent windows are skipped, near-silent ones warned about (see audio_check)
        clips, silent, quiet = screen_audio(clips)
        skips += silent
    # Built (and refused) before anything is written: a rejected dataset leaves no directory behind.
    manifest = build_dataset(clips, skips, settings, conditioning_frames=conditioning_frames)
    if quiet:
        manifest = manifest.model_copy(update={"warnings": [*manifest.warnings, *quiet]})
    return compute_once(out, DatasetManifest, lambda _out: manifest, manifest="dataset.json")
