"""Peak memory and time of the video VAE's encode and decode, whole vs tiled (ltxcore.model.vae_tiling), run by hand.

    .venv/bin/python bench/vae_tiling.py                     # GPU: the full-width LTX-2 VAE, 960x960x121, bf16
    .venv/bin/python bench/vae_tiling.py --smoke             # CPU: channels / 8, 960x960x9, fp32

The VAE is diffusers' `AutoencoderKLLTX2Video` at its default (LTX-2) widths with random weights (memory and time
depend on the shapes, not the values), 32x / 8x compression as the 2.3 checkpoint states them. Each variant runs in
its own process so the CPU's peak RSS (a high-water mark per process) belongs to it alone; on a GPU the peak is
`max_memory_allocated`. Also reported: the largest difference between the tiled and the whole latents (normalised
units). Results go to bench/results/vae_tiling[-smoke].{json,md}; numbers belong in notes, not in tests.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"


def build_vae(scale: int, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    from diffusers import AutoencoderKLLTX2Video

    torch.manual_seed(0)
    vae = AutoencoderKLLTX2Video(
        block_out_channels=tuple(c // scale for c in (256, 512, 1024, 2048)),
        decoder_block_out_channels=tuple(c // scale for c in (256, 512, 1024)),
        spatial_compression_ratio=32,
        temporal_compression_ratio=8,
        decoder_causal=False,
    )
    return vae.to(device, dtype).eval().requires_grad_(False)


def one(args: argparse.Namespace) -> dict:
    """One variant in this process: encode (and decode) a random clip, tiled or whole, and time it."""
    from ltxcore.model.vae_tiling import MAX_SIDE, vae_tiling

    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    vae = build_vae(args.scale, device, dtype)
    pixels = torch.rand(1, 3, args.frames, args.size, args.size, generator=torch.Generator().manual_seed(1))
    pixels = (pixels * 2 - 1).to(device, dtype)  # [1, 3, F, H, W]
    max_side = MAX_SIDE if args.variant == "tiled" else 1 << 30
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with torch.no_grad(), vae_tiling(vae, args.size, args.size, max_side) as plan:
        latents = vae.encode(pixels).latent_dist.mode()  # [1, 128, F', H/32, W/32]
        encoded = time.perf_counter()
        if args.decode:
            vae.decode(latents, return_dict=False)[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / 2**30
    else:
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss) / 2**20  # KiB -> GiB
    torch.save(latents.float().cpu(), args.latents_out)
    return {
        "variant": args.variant,
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "tiles": plan.tiles(args.size, args.size) if plan else 1,
        "encode_s": round(encoded - start, 2),
        "decode_s": round(time.perf_counter() - encoded, 2) if args.decode else None,
        "peak_gib": round(peak, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="CPU, channels / 8, 9 frames")
    ap.add_argument("--size", type=int, default=960)
    ap.add_argument("--frames", type=int, default=None, help="8k+1 (default 121, smoke 9)")
    ap.add_argument("--no-decode", dest="decode", action="store_false")
    ap.add_argument("--variant", choices=["whole", "tiled"], help=argparse.SUPPRESS)  # one child process
    ap.add_argument("--latents-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.frames = args.frames or (9 if args.smoke else 121)
    args.scale = 8 if args.smoke else 1
    if args.variant:
        print(json.dumps(one(args)))
        return
    rows = []
    for variant in ("whole", "tiled"):
        out = RESULTS / f"vae-{variant}.pt"
        cmd = [sys.executable, __file__, "--variant", variant, "--latents-out", str(out), "--size", str(args.size)]
        cmd += (
            ["--frames", str(args.frames)]
            + (["--smoke"] if args.smoke else [])
            + ([] if args.decode else ["--no-decode"])
        )
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
            rows.append({"variant": variant, "error": tail[0][:200]})
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    whole, tiled = RESULTS / "vae-whole.pt", RESULTS / "vae-tiled.pt"
    if whole.is_file() and tiled.is_file():
        a, b = torch.load(whole), torch.load(tiled)
        diff = (a - b).abs()
        rows.append(
            {
                "variant": "tiled vs whole",
                "latent_max_abs_diff": round(diff.max().item(), 4),
                "latent_mean_abs_diff": round(diff.mean().item(), 4),
                "latent_std": round(a.std().item(), 4),
            }
        )
    for path in (whole, tiled):
        path.unlink(missing_ok=True)
    report = {"size": args.size, "frames": args.frames, "channel_scale": args.scale, "rows": rows}
    stem = "vae_tiling-smoke" if args.smoke else "vae_tiling"
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# VAE encode+decode, {args.size}x{args.size}x{args.frames}, channels / {args.scale}", ""]
    lines += ["| variant | tiles | encode s | decode s | peak GiB |", "|---|---|---|---|---|"]
    for r in rows:
        if "peak_gib" in r:
            lines.append(f"| {r['variant']} | {r['tiles']} | {r['encode_s']} | {r['decode_s']} | {r['peak_gib']} |")
        else:
            lines.append(f"| {r['variant']} | {r.get('error') or _diff(r)} | | | |")
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _diff(row: dict) -> str:
    return (
        f"latents: max |diff| {row['latent_max_abs_diff']}, mean {row['latent_mean_abs_diff']} "
        f"(latent std {row['latent_std']})"
    )


if __name__ == "__main__":
    main()
