"""The training stage: a suffix LoRA trained on the latent cache, resumable exactly from its checkpoints."""

from ltxcore.train.config import LoraRun, TrainConfig, TrainProgress, ValidationPoint
from ltxcore.train.loop import TrainingInterrupted, train_lora

__all__ = ["LoraRun", "TrainConfig", "TrainProgress", "TrainingInterrupted", "ValidationPoint", "train_lora"]
