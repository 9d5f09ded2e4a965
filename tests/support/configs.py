"""The trainer config the tiny-model training tests share, so a test states only what it is about."""

from __future__ import annotations

from typing import Any

from ltxcore.train import TrainConfig

# rank 4 on the tiny preset, 8 clean frames at 24 fps with audio, one held-out clip; checkpoints, validations and
# plots every 100 steps, which the tests' few-step runs never reach unless they ask for them
TINY_TRAINING: dict[str, Any] = {
    "rank": 4,
    "learning_rate": 2e-3,
    "conditioning_frames": 8,
    "frame_rate": 24,
    "with_audio": True,
    "warmup": 0,
    "checkpoint_every": 100,
    "validate_every": 100,
    "plot_every": 100,
    "holdout_clips": 1,
}


def tiny_train_config(**overrides: Any) -> TrainConfig:
    return TrainConfig(**(TINY_TRAINING | overrides))
