"""Where a training run's files live under its output directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunFiles:
    root: Path
    checkpoints: Path
    metrics: Path
    plot: Path
    lora: Path
    config: Path

    @classmethod
    def under(cls, root: Path) -> RunFiles:
        (root / "checkpoints").mkdir(parents=True, exist_ok=True)
        return cls(
            root=root,
            checkpoints=root / "checkpoints",
            metrics=root / "metrics.jsonl",
            plot=root / "loss.png",
            lora=root / "lora.safetensors",
            config=root / "config.json",
        )
