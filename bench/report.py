"""The benchmark report: `report.json` (every number) and `report.md` (one table, each figure beside its baseline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(benchmark, figure, value, baseline, ratio) for each headline number that was measured."""
    out = []
    if fit := results.get("fit"):
        o, b = fit["ours"], fit["baseline"]
        out.append(
            (
                "fit",
                "output frames/s per core",
                f"{o['fps_per_core']:.1f}",
                f"{b['fps_per_core']:.1f} (decode every frame, PyAV+cv2)",
                f"{o['fps_per_core'] / b['fps_per_core']:.2f}x",
            )
        )
    if enc := results.get("encode"):
        o, b = enc["batched"], enc["one_clip_per_batch"]
        out.append(
            (
                "encode",
                "clips/s",
                f"{o['clips_per_s']:.2f}",
                f"{b['clips_per_s']:.2f} (one clip per batch)",
                f"{o['clips_per_s'] / b['clips_per_s']:.2f}x",
            )
        )
    for r in results.get("train_step", []):
        base = results["train_step"][0]
        out.append(
            (
                "train step (tiny)",
                f"s/step audio={r['audio']} ckpt={r['grad_ckpt']}",
                f"{r['s_per_step']:.4f} ({r['tokens_per_s']:.0f} tok/s, {r['peak_rss_mb']:.0f} MiB"
                + (f", {r['prepare_s'] * 1000:.1f} ms/batch prefetched)" if "prepare_s" in r else ")"),
                f"{base['s_per_step']:.4f} (video only, no ckpt)",
                f"{r['s_per_step'] / base['s_per_step']:.2f}x",
            )
        )
    for r in results.get("full_size", []):
        mfu = f"MFU {r['mfu']:.1%}" if r.get("mfu") is not None else "MFU n/a (no peak for this device)"
        mem = r.get("peak_cuda_mb", r["peak_rss_mb"])
        out.append(
            (
                "train step (2.3 shapes, random)",
                f"{r['bucket']} h{r['heads']}xL{r['layers']} r{r['rank']} "
                f"audio={r['audio']} ckpt={r['grad_ckpt']} on {r['device']}",
                f"{r['s_per_step']:.3f} s ({r['achieved_tflops']:.3g} TFLOP/s, {mem:.0f} MiB)",
                f"{r['step_tflop']:.3g} TFLOP per step (model-info)",
                mfu,
            )
        )
    if samp := results.get("sample"):
        base = samp[0]
        for r in samp:
            out.append(
                (
                    "sampling",
                    f"s/step {r['mode']}",
                    f"{r['s_per_step']:.4f}",
                    f"{base['s_per_step']:.4f} ({base['mode']})",
                    f"{r['s_per_step'] / base['s_per_step']:.2f}x",
                )
            )
    if orch := results.get("orchestration"):
        for stage, r in orch["stages"].items():
            out.append(
                (
                    "orchestration",
                    f"{stage} ({r['task_runs']} task runs)",
                    f"{r['prefect_s']:.3f} s Prefect",
                    f"{r['direct_s']:.3f} s direct",
                    f"{r['ratio']:.2f}x (+{r['overhead_per_task_s']:.3f} s/task)",
                )
            )
    return out


def write(results: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = out_dir / "report.json", out_dir / "report.md"
    js.write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        f"# Benchmarks ({results['meta']['when']}, {results['meta']['machine']})",
        "",
        "| benchmark | figure | value | baseline (same run) | ratio |",
        "|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows(results)]
    lines += ["", "Sizes: " + json.dumps(results["meta"]["sizes"]), ""]
    if notes := results["meta"].get("notes"):
        lines += [f"- {n}" for n in notes]
    md.write_text("\n".join(lines) + "\n")
    return js, md
