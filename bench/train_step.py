"""Training-step cost on the tiny preset (run by hand): s/step, tokens/s and peak RSS, per variant.

    .venv/bin/python bench/train_step.py [--steps 30] [--frames 4 --size 8] [--threads 2]

Each variant (audio on/off x gradient checkpointing on/off) runs in its own subprocess, so its peak RSS is its own.
Latents are synthetic (`ltxcore.train.synthetic`) on a latent grid of frames x size x size; the prompt is encoded by
the model layer. The first steps are warm-up and left out of the median. Results belong in notes, not in assertions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

VARIANTS = [(audio, ckpt) for audio in (False, True) for ckpt in (False, True)]


def run_one(args: argparse.Namespace) -> dict:
    from ltxcore.model.loader import load_components
    from ltxcore.model.spec import ModelSpec
    from ltxcore.model.text import encode_prompts
    from ltxcore.train.config import TrainConfig
    from ltxcore.train.files import RunFiles
    from ltxcore.train.metrics import peak_memory_mb
    from ltxcore.train.session import Session
    from ltxcore.train.synthetic import GlidingBlobs

    torch.set_num_threads(args.threads)
    spec = ModelSpec.parse("tiny")
    text = encode_prompts(load_components(spec, {"text_encoder", "tokenizer", "connectors"}), ["a ball moves right"])
    audio_steps = round(25 * (8 * (args.frames - 1) + 1) / 24)
    source = GlidingBlobs(8, text, frames=args.frames, height=args.size, width=args.size, audio_steps=audio_steps)
    cfg = TrainConfig(
        rank=32,
        steps=args.steps,
        learning_rate=1e-4,
        conditioning_frames=8,
        frame_rate=24,
        with_audio=args.audio,
        gradient_checkpointing=args.ckpt,
        holdout_clips=1,
    )
    with tempfile.TemporaryDirectory() as tmp:
        session = Session.build(source, cfg, RunFiles.under(Path(tmp)), spec=spec, device=torch.device("cpu"))
        events = [session.train_step(step) for step in range(args.steps)]
        # What the prefetch thread takes off each step's critical path: reading, collating and noising a batch.
        prepare_s = statistics.median(_timed(session._prepare, m) for m in range(args.steps, args.steps + 5))
        session.close()
    timed = events[3:] or events
    return {
        "audio": args.audio,
        "grad_ckpt": args.ckpt,
        "tokens": args.frames * args.size * args.size + (audio_steps if args.audio else 0),
        "s_per_step": round(statistics.median(e.step_time_s for e in timed), 4),
        "tokens_per_s": round(statistics.median(e.tokens_per_s for e in timed), 1),
        "prepare_s": round(prepare_s, 4),
        **peak_memory_mb(torch.device("cpu")),
    }


def _timed(fn: Callable[[int], object], arg: int) -> float:
    start = time.perf_counter()
    fn(arg)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--frames", type=int, default=4, help="latent frames (4 = 25 pixel frames)")
    parser.add_argument("--size", type=int, default=8, help="latent height and width (8 = 256 px)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--audio", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ckpt", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args)))
        return
    common = [
        "--steps",
        str(args.steps),
        "--frames",
        str(args.frames),
        "--size",
        str(args.size),
        "--threads",
        str(args.threads),
    ]
    print(f"{'audio':>5} {'ckpt':>5} {'tokens':>6} {'s/step':>8} {'tokens/s':>9} {'prepare s':>9} {'peak RSS MiB':>12}")
    for audio, ckpt in VARIANTS:
        flags = ["--one", *common, *(["--audio"] if audio else []), *(["--ckpt"] if ckpt else [])]
        start = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, *flags], check=True, capture_output=True, text=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{audio!s:>5} {ckpt!s:>5} {row['tokens']:>6} {row['s_per_step']:>8.4f} {row['tokens_per_s']:>9.1f} "
            f"{row['prepare_s']:>9.4f} {row['peak_rss_mb']:>12.1f}   ({time.perf_counter() - start:.0f}s wall)"
        )


if __name__ == "__main__":
    main()
