"""The full-size benchmark path without weights: real LTX-2.3 shapes, random weights made on the device."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from ltxcore.model.random_weights import random_transformer, shrink

ROOT = Path(__file__).resolve().parents[2]


def test_full_size_shapes_count_the_2_3_transformer() -> None:
    model = random_transformer("ltx-2.3", device="meta")  # no memory: only the shapes are built
    assert sum(p.numel() for p in model.parameters()) == 18_988_838_144
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}


def test_reduced_width_keeps_head_shapes_and_is_seeded() -> None:
    cfg = shrink(heads=2, layers=2)
    a, b = (random_transformer(cfg, device="cpu", seed=3) for _ in range(2))
    with torch.device("meta"):
        reference = type(a)(**cfg)
    assert [(n, p.shape) for n, p in a.named_parameters()] == [(n, p.shape) for n, p in reference.named_parameters()]
    q = a.transformer_blocks[0].attn1.to_q.weight
    assert q.shape == (256, 256) and q.dtype == torch.bfloat16  # 2 heads x 128
    assert a.transformer_blocks[0].audio_attn1.to_q.weight.shape == (128, 128)  # 2 heads x 64
    assert abs(q.float().std().item() - 256**-0.5) < 0.1 * 256**-0.5  # N(0, 1/fan_in)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))
    assert not any(p.requires_grad for p in a.parameters())


def test_full_size_bench_runs_at_reduced_width_on_cpu() -> None:
    cmd = [
        sys.executable,
        "bench/full_size.py",
        "--random-weights",
        "--heads",
        "2",
        "--layers",
        "1",
        "--size",
        "64x64",
        "--frames",
        "17",
        "--steps",
        "2",
        "--audio",
        "--ckpt",
        "--rank",
        "8",
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    row = json.loads(done.stdout.strip().splitlines()[-1])
    assert (row["heads"], row["layers"], row["video_tokens"], row["audio_tokens"]) == (2, 1, 3 * 2 * 2, 18)
    assert row["s_per_step"] > 0 and row["step_tflop"] > 0 and row["peak_rss_mb"] > 0
    assert row["mfu"] is None  # no known peak for a CPU
