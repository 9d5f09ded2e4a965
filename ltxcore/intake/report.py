"""The dataset report users read: what was kept and skipped, and why, in plain data."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ltxcore.geometry import video_tokens
from ltxcore.manifests import DatasetManifest, SkippedClip


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
    skipped = [_skipped(s) for s in manifest.skipped]
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
        "geometry": {
            "num_frames": manifest.num_frames,
            "fps": manifest.fps,
            "width": manifest.width,
            "height": manifest.height,
            "conditioning_frames": manifest.conditioning_frames,
            "with_audio": manifest.with_audio,
        },
        "warnings": list(manifest.warnings),
    }


def _skipped(s: SkippedClip) -> dict[str, Any]:
    """One skipped file; a skipped scene also gives its time range in the source (`source_range_s`)."""
    entry: dict[str, Any] = {"file": s.file, "reason": s.reason, "type": s.type}
    if s.start is not None and s.end is not None:
        entry["source_range_s"] = [s.start, s.end]
    return entry


def _rate(fps: float | None) -> str:
    return "?" if fps is None else f"{fps:.3f}".rstrip("0").rstrip(".")
