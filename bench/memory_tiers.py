"""The README's memory tier table, recomputed: measured block activations plus exact parameter accounting (CPU).

    .venv/bin/python bench/memory_tiers.py [--size 768x768 --frames 89]   # minutes on a laptop CPU

Per tier: frozen weights (bf16, or int8 Linear weights with bf16 row scales, counted on the meta device), the LoRA's
fp32 weights and gradients with AdamW's moments (fp32, or 8-bit), and activations: each kept block's saved tensors
(`memory.block_activation_bytes`, measured under bf16 autocast at the bucket's token counts), each recomputed block's
input, one block of backward temporaries, and a 2 GiB allowance for the stem, head, loss and inputs. The estimate is
the peak CUDA allocation; the CUDA context (~0.5 GiB) and allocator slack come on top. `bench/gpu_probe.py` measures
the real peaks on a GPU. Writes `bench/results/memory_tiers.{json,md}`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ltxcore import geometry
from ltxcore.model import info
from ltxcore.model.lora import lora_targets
from ltxcore.train.adapters import is_audio_module
from ltxcore.train.checkpointing import blocks_to_checkpoint
from ltxcore.train.memory import block_activation_bytes, frozen_weight_bytes, state_bytes, step_peak_bytes

GiB = 2**30
# (tier, rank, with_audio, base, optimizer, checkpointed blocks: an int or a GPU's GiB for "auto")
TIERS = [
    ("default: bf16, AdamW, all blocks recomputed", 32, False, "none", "adamw", 48),
    ("default, with audio", 32, True, "none", "adamw", 48),
    ("no checkpointing", 32, False, "none", "adamw", 0),
    ("no checkpointing, with audio", 32, True, "none", "adamw", 0),
    ("auto on an 80 GB H100", 32, False, "none", "adamw", "80"),
    ("auto on an 80 GB H100, with audio", 32, True, "none", "adamw", "80"),
    ("auto on a 141 GB H200, with audio", 32, True, "none", "adamw", "141"),
    ("rank 128", 128, False, "none", "adamw", 48),
    ("48 GB: int8 base, 8-bit AdamW", 32, False, "int8", "adamw8bit", 48),
    ("48 GB tier with audio", 32, True, "int8", "adamw8bit", 48),
    ("int8 without checkpointing", 32, False, "int8", "adamw8bit", 0),
    ("32 GB: int8, 8-bit AdamW, rank 16", 16, False, "int8", "adamw8bit", 48),
]


def lora_params(model: torch.nn.Module, rank: int, with_audio: bool) -> int:
    """Trainable LoRA parameters: q/k/v/out of every attention; a video-only run has no audio adapters."""
    targets = lora_targets()
    total = 0
    for name, m in model.named_modules():
        adapted = isinstance(m, torch.nn.Linear) and any(name == t or name.endswith("." + t) for t in targets)
        if adapted and (with_audio or not is_audio_module(name)):
            total += rank * (m.in_features + m.out_features)
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="768x768")
    ap.add_argument("--frames", type=int, default=89)
    ap.add_argument("--fps", type=float, default=24.0)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = ap.parse_args()
    w, h = (int(x) for x in args.size.split("x"))
    nv, na = geometry.video_tokens(w, h, args.frames), geometry.audio_steps(args.frames / args.fps)
    model = info.meta_transformer()
    cfg = info.PRESETS["ltx-2.3"]
    blocks = cfg["num_layers"]
    measured: dict[tuple[int, bool], int] = {}
    rows = []
    for name, rank, audio, base, optimizer, ckpt in TIERS:
        if (rank, audio) not in measured:
            measured[rank, audio] = block_activation_bytes(nv, na if audio else 0, rank=rank)
            print(f"block activations r{rank} audio={audio}: {measured[rank, audio] / GiB:.3f} GiB", flush=True)
        block = measured[rank, audio]
        inputs = 2 * (nv * 4096 + (na if audio else 1) * 2048)
        weights = frozen_weight_bytes(model, base)
        lora = lora_params(model, rank, audio)
        fixed = dict(
            weights=weights, lora_params=lora, blocks=blocks, block_bytes=block, input_bytes=inputs, optimizer=optimizer
        )
        if isinstance(ckpt, str):  # "auto" on a GPU of that many GB, as the trainer plans it (10% allocator margin)
            free = int(int(ckpt) * 1e9 * 0.9) - state_bytes(weights=weights, lora_params=lora, optimizer=optimizer)
            ckpt = blocks_to_checkpoint("auto", blocks, free_bytes=free, block_bytes=block, input_bytes=inputs)
        peak = step_peak_bytes(**fixed, checkpointed=ckpt)
        rows.append(
            {
                "tier": name,
                "rank": rank,
                "with_audio": audio,
                "base": base,
                "optimizer": optimizer,
                "checkpointed_blocks": ckpt,
                "weights_gib": round(weights / GiB, 2),
                "lora_state_gib": round(lora * (16 if optimizer == "adamw" else 10) / GiB, 2),
                "block_activation_gib": round(block / GiB, 3),
                "peak_gib": round(peak / GiB, 1),
            }
        )
    report = {"bucket": f"{w}x{h}x{args.frames}@{args.fps:g}", "video_tokens": nv, "audio_tokens": na, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "memory_tiers.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"Memory tiers at {report['bucket']} ({nv} video, {na} audio, 1024 text tokens), estimated peak allocation",
        "",
        "| tier | K recomputed | weights | LoRA + AdamW | per kept block | peak |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['tier']} | {r['checkpointed_blocks']} | {r['weights_gib']} GiB | {r['lora_state_gib']} GiB | "
        f"{r['block_activation_gib']} GiB | ~{r['peak_gib']} GiB |"
        for r in rows
    ]
    (args.out / "memory_tiers.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
