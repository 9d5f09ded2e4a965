"""Measured step tables: the full-size benchmark rows of `bench/results/report.json` (written by `bench/run_all
--full` on a GPU), looked up by GPU, bucket, rank, audio and memory tier, so a pre-flight figure can say `measured`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BENCH_REPORT = Path(__file__).resolve().parents[2] / "bench" / "results" / "report.json"


def bench_rows(path: Path = BENCH_REPORT) -> list[dict[str, Any]]:
    """Full-size benchmark rows, each with the GPU name it ran on (`gpu` in the report's meta, else its machine)."""
    if not path.is_file():
        return []
    report = json.loads(path.read_text())
    meta = report.get("meta", {})
    machine = str(meta.get("gpu") or meta.get("machine", ""))
    return [{"gpu": machine, **row} for row in report.get("full_size", [])]


def measured_row(rows: list[dict[str, Any]], gpu_key: str, **want: Any) -> dict[str, Any] | None:
    """The first CUDA row on `gpu_key` whose fields equal `want` (preset, heads, layers, bucket, audio, ...)."""
    for row in rows:
        on_gpu = str(row.get("device", "")).startswith("cuda") and names_gpu(str(row["gpu"]), gpu_key)
        if on_gpu and all(row.get(k) == v for k, v in want.items()):
            return row
    return None


def names_gpu(text: str, gpu_key: str) -> bool:
    """'NVIDIA H100 80GB HBM3' names h100, 'NVIDIA H100 PCIe' names h100-pcie, 'NVIDIA GeForce RTX 4090' rtx4090."""
    norm = text.lower().replace(" ", "")
    base, _, variant = gpu_key.partition("-")
    if base not in norm:
        return False
    if gpu_key == "h100":
        return "pcie" not in norm
    return not variant or variant in norm
