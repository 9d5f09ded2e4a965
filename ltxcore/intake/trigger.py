"""Captions after fitting: the trigger phrase is applied to the fitted windows, not inside the fit stage, so that a
new trigger phrase re-runs no ffmpeg (only the dataset manifest and the text embeddings change)."""

from __future__ import annotations

from ltxcore.intake.fit import caption_with_trigger
from ltxcore.manifests import FitResult


def with_trigger_phrase(fitted: FitResult, trigger: str) -> FitResult:
    """`fitted` with the trigger phrase first in every window's caption (once)."""
    if not trigger.strip():
        return fitted
    clips = [c.model_copy(update={"caption": caption_with_trigger(c.caption, trigger)}) for c in fitted.clips]
    return fitted.model_copy(update={"clips": clips})
