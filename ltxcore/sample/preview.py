"""Validation previews during training: the reel rendered with the live, adapted transformer at a training step,
without a second copy of the transformer and, with the prompts' embeddings from the latent cache, without the text
encoder beside the training model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from ltxcore.manifests import LatentCache, ValidationClip
from ltxcore.model.spec import ModelSpec
from ltxcore.sample.extend import ExtendSettings, PreparedClosing, load_sampling_parts
from ltxcore.sample.reel import ValidationReel, cached_validation_texts, render_validation, validation_texts


def live_previewer(
    cache: LatentCache,
    validation: Sequence[ValidationClip],
    extend: ExtendSettings,
    spec: ModelSpec,
    device: str,
    dtype: torch.dtype,
    out: Path,
    on_reel: Callable[[int, ValidationReel], None],
) -> Callable[[int, torch.nn.Module], ValidationReel]:
    """A `preview(step, model)` callback for `train_lora` returning the reel; `on_reel(step, reel)` hears of each.
    The prompts are encoded once (from the cache, or with the text encoder, released before training starts), and
    each validation clip is fitted, encoded and its closing frames decoded at the first preview only."""
    texts = cached_validation_texts(cache, validation, extend.negative_prompt)
    # Lazy: the transformer is provided (the live, adapted one), never loaded.
    components = load_sampling_parts(spec, extend.with_audio, device, with_text=texts is None, dtype=dtype)
    if texts is None:
        texts = validation_texts(components, validation, extend.negative_prompt)
    closings: dict[int, PreparedClosing] = {}

    def preview(step: int, model: torch.nn.Module) -> ValidationReel:
        components.provide("transformer", model)
        label = f"step-{step:05d}"
        reel = render_validation(
            validation, None, extend, out, components=components, step_label=label, texts=texts, closings=closings
        )
        on_reel(step, reel)
        return reel

    return preview
