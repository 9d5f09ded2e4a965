"""Full-size LoRA training step with random weights (run by hand, on a lent GPU): s/step, tokens/s, peak memory, MFU.

    .venv/bin/python bench/full_size.py --preset ltx-2.3 --random-weights --size 768x768 --frames 89 --rank 32 \
        [--audio] [--ckpt] [--steps 6] [--peak-tflops 989]
    .venv/bin/python bench/full_size.py --random-weights --heads 2 --layers 2 --size 128x128 --frames 17  # CPU

The transformer is `ltxcore.model.random_weights` (the real 2.3 shapes, random bf16 weights made on the device, no
download); the step is the trainer's own `Session.train_step` on synthetic latents of the bucket's latent shape and
1024 random text tokens. MFU = the step's FLOPs (counted on the meta device by `model_info`'s `train_step_flops`,
plus one forward when gradient checkpointing recomputes it) / step time / the device's peak bf16 FLOP/s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ltxcore import geometry
from ltxcore.model import info
from ltxcore.model.forward import TextBatch
from ltxcore.model.random_weights import random_transformer, shrink
from ltxcore.model.spec import ModelSpec
from ltxcore.train.config import TrainConfig
from ltxcore.train.files import RunFiles
from ltxcore.train.metrics import peak_memory_mb
from ltxcore.train.session import Session
from ltxcore.train.synthetic import GlidingBlobs

PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0}  # dense bf16, SXM parts


def step_flops(cfg: dict, args: argparse.Namespace) -> int:
    """FLOPs of one batch-1 step at this geometry, counted on a meta-device model of the same config."""
    from diffusers import LTX2VideoTransformer3DModel

    name = f"bench-{args.heads}x{args.layers}"
    info.PRESETS.setdefault(name, cfg)  # train_step_flops reads the text widths from the preset table
    with torch.device("meta"):
        model = LTX2VideoTransformer3DModel(**cfg)
    w, h = args.width, args.height
    flops = info.train_step_flops(model, name, args.frames, args.fps, w, h, rank=args.rank, with_audio=args.audio)
    return flops["train_step_with_checkpointing" if args.ckpt else "train_step"]


def run(args: argparse.Namespace) -> dict:
    device = torch.device(args.device)
    cfg = (
        dict(info.PRESETS[args.preset])
        if args.heads is None
        else shrink(args.preset, heads=args.heads, layers=args.layers)
    )
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32  # what the trainer uses on each device
    model = random_transformer(cfg, device=device, dtype=dtype)
    lw, lh = geometry.latent_size(args.width, args.height)
    frames = geometry.latent_frames(args.frames)
    audio_steps = geometry.audio_steps(args.frames / args.fps)
    g = torch.Generator().manual_seed(0)
    text = TextBatch(
        video=torch.randn(1, info.TEXT_TOKENS, cfg["cross_attention_dim"], generator=g),
        audio=torch.randn(1, info.TEXT_TOKENS, cfg["audio_cross_attention_dim"], generator=g),
        mask=torch.ones(1, info.TEXT_TOKENS, dtype=torch.int64),
    )
    source = GlidingBlobs(4, text, frames=frames, height=lh, width=lw, audio_steps=audio_steps)
    config = TrainConfig(
        rank=args.rank,
        steps=args.steps,
        conditioning_frames=8,
        frame_rate=args.fps,
        with_audio=args.audio,
        gradient_checkpointing=args.ckpt,
        holdout_clips=1,
        validation_sigmas=(0.5,),
        optimizer=args.optimizer,
        base_quantization=args.quantize,
    )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as tmp:
        session = Session.build(
            source, config, RunFiles.under(Path(tmp)), spec=ModelSpec.parse("tiny"), device=device, transformer=model
        )
        events = [session.train_step(s) for s in range(args.steps)]
    timed = events[2:] or events  # the first steps allocate, autotune and compile
    seconds = statistics.median(e.step_time_s for e in timed)
    flops = step_flops(cfg, args)
    peak = args.peak_tflops or next(
        (v for k, v in PEAK_TFLOPS.items() if device.type == "cuda" and k in torch.cuda.get_device_name(device)), None
    )
    return {
        "preset": args.preset,
        "heads": cfg["num_attention_heads"],
        "layers": cfg["num_layers"],
        "bucket": f"{args.width}x{args.height}x{args.frames}",
        "audio": args.audio,
        "grad_ckpt": args.ckpt,
        "rank": args.rank,
        "optimizer": args.optimizer,
        "base": args.quantize,
        "device": str(device),
        "video_tokens": frames * lh * lw,
        "audio_tokens": audio_steps if args.audio else 0,
        "s_per_step": round(seconds, 4),
        "tokens_per_s": round(statistics.median(e.tokens_per_s for e in timed), 1),
        "step_tflop": round(flops / 1e12, 4),
        "achieved_tflops": round(flops / seconds / 1e12, 4),
        "mfu": round(flops / seconds / (peak * 1e12), 4) if peak else None,
        **peak_memory_mb(device),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="ltx-2.3", choices=sorted(info.PRESETS))
    ap.add_argument(
        "--random-weights",
        action="store_true",
        required=True,
        help="random weights of the real shapes (the only mode: no checkpoint is read)",
    )
    ap.add_argument("--heads", type=int, help="reduce to this many heads per stream (CPU runs)")
    ap.add_argument("--layers", type=int, default=2, help="blocks, with --heads")
    ap.add_argument("--size", default="768x768", help="WxH of the bucket")
    ap.add_argument("--frames", type=int, default=89)
    ap.add_argument("--fps", type=float, default=24.0)
    ap.add_argument("--rank", type=int, default=32)
    ap.add_argument("--audio", action="store_true")
    ap.add_argument("--ckpt", action="store_true", help="gradient checkpointing")
    ap.add_argument("--optimizer", default="adamw", choices=["adamw", "adamw8bit"])
    ap.add_argument("--quantize", default="none", choices=["none", "int8"], help="frozen base weights")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak (default: known GPUs)")
    args = ap.parse_args()
    args.width, args.height = (int(x) for x in args.size.lower().split("x"))
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
