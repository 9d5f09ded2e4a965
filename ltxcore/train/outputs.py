"""Where a run's files live under its output directory, and the finished run's LoRA file and config file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ltxcore import geometry
from ltxcore.model.lora import lora_config
from ltxcore.store.atomic import atomic_write_text
from ltxcore.train.adapters import save_lora_file

if TYPE_CHECKING:
    from ltxcore.train.config import LoraRun
    from ltxcore.train.session import Session


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
        return cls(root=root, checkpoints=root / "checkpoints", metrics=root / "metrics.jsonl", plot=root / "loss.png",
                   lora=root / "lora.safetensors", config=root / "config.json")


def finish_run(session: Session) -> LoraRun:
    """Write the LoRA (bf16, `diffusion_model.` keys, metadata), the config file and the final plot."""
    cfg = session.config
    _, frames, height, width = session.cache.load(0, with_audio=False).video.shape  # [128, F', H', W']
    config = lora_config(
        trigger_phrase=cfg.trigger_phrase, rank=cfg.rank, targets=cfg.target_modules,
        conditioning_frames=cfg.conditioning_frames, num_frames=geometry.pixel_frames(frames),
        frame_rate=cfg.frame_rate, width=width * geometry.VAE_SPATIAL, height=height * geometry.VAE_SPATIAL,
        with_audio=cfg.with_audio, base_model=cfg.base_model,
    )
    config["steps"] = session.step
    config["validation"] = [p.model_dump() for p in session.validation_points()]
    config["training"] = cfg.model_dump(mode="json")
    metadata = {"training_type": config["training_type"], "base_model": cfg.base_model, "rank": cfg.rank,
                "alpha": cfg.rank, "target_modules": list(cfg.target_modules), "trigger_phrase": cfg.trigger_phrase,
                "steps": session.step, "conditioning_frames": cfg.conditioning_frames, "with_audio": cfg.with_audio}
    save_lora_file(session.files.lora, session.model, session.params, metadata)
    atomic_write_text(session.files.config, json.dumps(config, indent=2))
    session.plot()
    return session.manifest(finished=True, lora_path=str(session.files.lora), config_path=str(session.files.config))
