"""What training reports: a JSONL log (one line per step, one per validation), a loss-curve PNG.

The log is the record a resumed run continues: on resume, lines after the checkpoint's step are dropped (those steps
are about to be redone), so the finished log reads exactly like an uninterrupted run's, apart from timings.
"""

from __future__ import annotations

import io
import json
import resource
import sys
from pathlib import Path
from typing import Any

import torch

from ltxcore.store.atomic import atomic_write_bytes, atomic_write_text


class MetricsLog:
    """Append-only JSONL of {"kind": "step"|"validation", "step": n, ...} records."""

    def __init__(self, path: Path, resume_step: int):
        """Continue the log at `path` after `resume_step` (-1: a fresh run, nothing kept)."""
        self.path = path
        self.records: list[dict[str, Any]] = []
        if path.is_file():
            kept = [r for r in map(json.loads, path.read_text().splitlines()) if r["step"] <= resume_step]
            self.records = kept
            atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in kept))

    def write(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["kind"] == kind]


def peak_memory_mb(device: torch.device) -> dict[str, float]:
    """Peak resident memory of this process, and peak CUDA allocation on a GPU, in MiB."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_mb = rss / (1 << 20) if sys.platform == "darwin" else rss / 1024  # bytes on macOS, KiB on Linux
    peak = {"peak_rss_mb": round(rss_mb, 1)}
    if device.type == "cuda":
        peak["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated(device) / (1 << 20), 1)
    return peak


def smooth(values: list[float], beta: float = 0.9) -> list[float]:
    """Bias-corrected exponential moving average (the curve TensorBoard draws)."""
    out, avg = [], 0.0
    for i, v in enumerate(values, start=1):
        avg = beta * avg + (1 - beta) * v
        out.append(avg / (1 - beta**i))
    return out


def plot_losses(log: MetricsLog, path: Path, title: str) -> None:
    """Raw and smoothed training losses, per modality when audio trains, and the validation points."""
    import matplotlib

    matplotlib.use("Agg")  # headless: workers have no display
    import matplotlib.pyplot as plt

    steps = log.of_kind("step")
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    if steps:
        x = [r["step"] for r in steps]
        total = [r["loss"] for r in steps]
        ax.plot(x, total, color="tab:blue", alpha=0.25, linewidth=0.8, label="train (raw)")
        ax.plot(x, smooth(total), color="tab:blue", linewidth=1.8, label="train (smoothed)")
        if steps[0].get("loss_audio") is not None:
            ax.plot(x, smooth([r["loss_video"] for r in steps]), color="tab:green", linewidth=1, label="video")
            ax.plot(x, smooth([r["loss_audio"] for r in steps]), color="tab:purple", linewidth=1, label="audio")
    val = log.of_kind("validation")
    if val:
        ax.plot([r["step"] for r in val], [r["loss"] for r in val], "o-", color="tab:red", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (masked MSE)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
