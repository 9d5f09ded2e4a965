"""Sampling speed on the tiny preset (run by hand): seconds per denoising step and peak memory, guidance on and off.

    .venv/bin/python bench/sample.py --frames 25 --size 96 --steps 4 [--audio] [--device cpu]

Each guidance mode runs in its own process (so peak RSS is that mode's alone): "cond" (one row per step), "cfg"
(two rows), "cfg+stg" (three rows: the default). The text embeddings are random, so no text encoder is timed; VAE
encode/decode and the vocoder are not part of the loop and are left out. Results belong in notes, not in assertions.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

from ltxcore import geometry
from ltxcore.model.forward import TextBatch, VideoGeometry
from ltxcore.model.loader import load_components
from ltxcore.model.spec import ModelSpec
from ltxcore.sample.guidance import Guidance
from ltxcore.sample.sampler import place_audio_suffix, place_video_suffix, sample

# "cfg+stg" is the default without modality guidance; "cfg+stg+mod" adds its isolated pass (only with --audio).
MODES = {
    "cond": Guidance(cfg=1.0, audio_cfg=1.0, stg_scale=0.0, modality=1.0),
    "cfg": Guidance(stg_scale=0.0, modality=1.0),
    "cfg+stg": Guidance(modality=1.0),
    "cfg+stg+mod": Guidance(),
}


def run_one(mode: str, args: argparse.Namespace) -> dict:
    device = torch.device(args.device)
    components = load_components(ModelSpec.parse(args.model), {"transformer", "scheduler"}, device=device)
    model = components.transformer
    lw, lh = geometry.latent_size(args.size, args.size)
    frames = geometry.latent_frames(args.frames)
    geo = VideoGeometry(frames=frames, height=lh, width=lw, fps=args.fps)
    n = geometry.suffix_latent_frames(args.conditioning_frames)
    video = place_video_suffix(torch.randn(128, n, lh, lw, device=device), frames)
    audio = None
    if args.audio:
        steps = geometry.audio_steps(args.frames / args.fps)
        suffix = torch.randn(8, geometry.audio_suffix_steps(args.conditioning_frames, args.fps), 16, device=device)
        audio = place_audio_suffix(suffix, steps, device)
    cfg = model.config
    text = TextBatch(
        torch.randn(2, 128, cfg.cross_attention_dim, device=device),
        torch.randn(2, 128, cfg.audio_cross_attention_dim, device=device),
        torch.ones(2, 128, dtype=torch.int64, device=device),
    )
    run = dict(steps=2, generator=torch.Generator().manual_seed(0))
    sample(model, components.scheduler, text, geo, video, audio, MODES[mode], **run)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    sample(
        model,
        components.scheduler,
        text,
        geo,
        video,
        audio,
        MODES[mode],
        steps=args.steps,
        generator=torch.Generator().manual_seed(0),
    )
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = (
        torch.cuda.max_memory_allocated() / 2**20
        if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    return {
        "mode": mode,
        "s_per_step": round(seconds / args.steps, 4),
        "peak_mb": round(peak, 1),
        "video_tokens": video.tokens,
        "audio_tokens": audio.tokens if audio else 0,
        "threads": torch.get_num_threads(),
        "device": str(device),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--fps", type=float, default=24.0)
    parser.add_argument("--conditioning-frames", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--audio", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--one", choices=list(MODES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args)))
        return
    for mode in MODES:
        out = subprocess.run(
            [sys.executable, __file__, *sys.argv[1:], "--one", mode], capture_output=True, text=True, check=True
        )
        print(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
