"""Encode throughput on the tiny preset (run by hand): clips/s, latent tokens/s and peak memory on this machine.

    .venv/bin/python bench/encode.py --clips 8 --frames 25 --size 64 [--audio] [--budget-mb 64]

Builds its clips with ffmpeg (lavfi testsrc2) and WAVs with soundfile in a temporary directory, encodes them through
`encode_dataset` (fresh store each run, so nothing is cached), and reports wall time, throughput and peak RSS. Results
belong in notes, not in assertions.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import torch

from ltxcore import geometry
from ltxcore.manifests import DatasetManifest, FittedClip
from ltxcore.media.ffmpeg_bin import ffmpeg
from ltxcore.model.cache import encode_dataset
from ltxcore.model.forward import TextBatch, VideoGeometry, predict_velocity
from ltxcore.model.loader import load_components
from ltxcore.model.spec import ModelSpec


def make_dataset(tmp: Path, clips: int, frames: int, size: int, fps: float, audio: bool) -> DatasetManifest:
    items = []
    for i in range(clips):
        video = tmp / f"v{i}.mp4"
        subprocess.run(
            [
                ffmpeg(),
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                f"testsrc2=size={size}x{size}:rate={fps:g}",
                "-frames:v",
                str(frames),
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuv420p",
                str(video),
            ],
            check=True,
        )
        wav = None
        if audio:
            t = np.arange(round(frames / fps * 16000)) / 16000
            tone = (0.3 * np.sin(2 * np.pi * 220 * (i + 1) * t)).astype(np.float32)
            wav = tmp / f"a{i}.wav"
            soundfile.write(wav, np.stack([tone, tone], axis=1), 16000, subtype="FLOAT")
        items.append(
            FittedClip(
                id=f"c{i}",
                source_id=f"s{i}",
                rel_path=video.name,
                video_path=str(video),
                audio_path=str(wav) if wav else None,
                caption=f"sks clip {i % 3}",
                num_frames=frames,
                fps=fps,
                width=size,
                height=size,
                source_start=0.0,
                source_end=frames / fps,
            )
        )
    return DatasetManifest(
        clips=items, num_frames=frames, fps=fps, width=size, height=size, conditioning_frames=8, with_audio=audio
    )


def forward_seconds(spec: ModelSpec, frames: int, size: int, fps: float, repeats: int = 5) -> float:
    """Median seconds of one tiny-transformer forward (batch 1, video and audio) at this clip size."""
    model = load_components(spec, {"transformer"}).transformer
    lw, lh = geometry.latent_size(size, size)
    geo = VideoGeometry(geometry.latent_frames(frames), lh, lw, fps)
    steps = geometry.audio_steps(frames / fps)
    cfg = model.config
    text = TextBatch(
        torch.randn(1, 128, cfg.cross_attention_dim),
        torch.randn(1, 128, cfg.audio_cross_attention_dim),
        torch.ones(1, 128, dtype=torch.int64),
    )
    times = []
    with torch.no_grad():
        for _ in range(repeats + 1):
            start = time.perf_counter()
            predict_velocity(
                model,
                torch.randn(1, geo.tokens, 128),
                torch.full((1, geo.tokens), 0.5),
                torch.full((1,), 0.5),
                text,
                geo,
                torch.randn(1, steps, 128),
                torch.full((1, steps), 0.5),
                torch.full((1,), 0.5),
            )
            times.append(time.perf_counter() - start)
    return float(np.median(times[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--fps", type=float, default=24.0)
    parser.add_argument("--audio", action="store_true")
    parser.add_argument("--budget-mb", type=int, default=1024)
    args = parser.parse_args()
    spec = ModelSpec.parse("tiny")
    spec.local_dir()  # build the preset outside the timed region
    with tempfile.TemporaryDirectory() as tmp:
        manifest = make_dataset(Path(tmp), args.clips, args.frames, args.size, args.fps, args.audio)
        start = time.perf_counter()
        encode_dataset(manifest, spec, Path(tmp) / "store", memory_budget_bytes=args.budget_mb << 20)
        seconds = time.perf_counter() - start
    tokens = geometry.video_tokens(args.size, args.size, args.frames) * args.clips
    print(
        json.dumps(
            {
                "clips": args.clips,
                "frames": args.frames,
                "size": args.size,
                "audio": args.audio,
                "budget_mb": args.budget_mb,
                "torch_threads": torch.get_num_threads(),
                "seconds": round(seconds, 2),
                "clips_per_s": round(args.clips / seconds, 2),
                "video_tokens_per_s": round(tokens / seconds, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "tiny_forward_s": round(forward_seconds(spec, args.frames, args.size, args.fps), 4),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
