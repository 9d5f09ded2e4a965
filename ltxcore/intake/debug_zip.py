"""The debug dataset: a zip of exactly what the model trains on, so a user can watch it.

Layout: `clips/<id>.mp4` (with the fitted audio muxed in as AAC when audio extension is on), `clips/<id>.txt` (the
caption as trained, trigger phrase included), `manifest.json` (the DatasetManifest) and `summary.json` (the report).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import zipfile
from pathlib import Path

from pydantic import BaseModel

from ltxcore.intake.report import summary
from ltxcore.manifests import DatasetManifest, FittedClip
from ltxcore.media import ffmpeg_bin
from ltxcore.store.atomic import replace_atomically
from ltxcore.store.stage import compute_once
from ltxcore.store.stages import DEBUG_DATASET


def write_debug_dataset(manifest: DatasetManifest, out_path: Path) -> Path:
    """Write the archive atomically to `out_path` and return it."""

    def fill(tmp: Path) -> None:
        with (
            tempfile.TemporaryDirectory(dir=out_path.parent) as scratch,
            zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf,
        ):
            for clip in manifest.clips:
                video = _with_audio(clip, Path(scratch)) if clip.audio_path else Path(clip.video_path)
                zf.write(video, f"clips/{clip.id}.mp4", compress_type=zipfile.ZIP_STORED)  # already compressed
                zf.writestr(f"clips/{clip.id}.txt", clip.caption + "\n")
            zf.writestr("manifest.json", manifest.model_dump_json(indent=2))
            zf.writestr("summary.json", json.dumps(summary(manifest), indent=2))

    replace_atomically(out_path, fill)
    return out_path


def _with_audio(clip: FittedClip, scratch: Path) -> Path:
    """The window's mp4 with its WAV muxed in as AAC; the video stream is copied, not re-encoded."""
    assert clip.audio_path is not None
    out = scratch / f"{clip.id}.mp4"
    cmd = [
        ffmpeg_bin.ffmpeg(),
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-protocol_whitelist",
        "file",
        "-f",
        "mp4",
        "-i",
        "file:" + clip.video_path,
        "-protocol_whitelist",
        "file",
        "-f",
        "wav",
        "-i",
        "file:" + clip.audio_path,
        "-map",
        "0:v:0",
        "-map",
        "1:a:0",
        "-c:v",
        "copy",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-f",
        "mp4",
        str(out),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    return out


class DebugDataset(BaseModel):
    """The debug-dataset stage's manifest."""

    path: str


def debug_zip_stage(manifest: DatasetManifest, work_dir: Path) -> Path:
    """The debug dataset of `manifest` under `debug-dataset/<key>/`, written once."""

    def run(out: Path) -> DebugDataset:
        write_debug_dataset(manifest, out / "debug_dataset.zip")
        return DebugDataset(path=str(out / "debug_dataset.zip"))

    done = compute_once(DEBUG_DATASET.dir(work_dir, manifest=manifest), DebugDataset, run)
    return Path(done.path)
