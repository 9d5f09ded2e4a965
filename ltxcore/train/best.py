"""The best step, not only the last: at every scoring point (each held-out validation, each preview) the live
adapter is scored, and the best one by each score is written as its own LoRA file beside the final one.

Scores, lower is better:
- `held_out_loss`: the held-out validation loss (fixed noise and sigmas, so comparable across steps);
- `seam`: the previews' mean |ln seam ratio| over the validation clips (a ratio of 1 is seamless; 2 and 0.5 are
  equally far from it).
Step 0 (the base model, whose adapter is zero) is a baseline, never a pick. The picks live in `best.json`; a resumed
run keeps the picks made up to its checkpoint's step and redoes the rest exactly as the first run did.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ltxcore.store.atomic import atomic_write_text

Score = Literal["held_out_loss", "seam"]
FILE_NAMES: dict[Score, str] = {"held_out_loss": "best-lora.safetensors", "seam": "best-seam-lora.safetensors"}


class BestPick(BaseModel):
    """The best step by one score so far, and the LoRA file written at that step."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    score: Score
    step: int
    value: float = Field(description="The score at `step` (lower is better).")
    lora_path: str


def seam_score(ratios: Sequence[float]) -> float:
    """Mean |ln ratio| over a preview's clips: 0 for a seamless reel."""
    assert ratios, "a preview scores at least one clip"
    return sum(abs(math.log(max(r, 1e-6))) for r in ratios) / len(ratios)


class BestTracker:
    """Keeps the best step by each score; `offer` writes the LoRA file (through `save`) when a step beats the best."""

    def __init__(self, root: Path, resume_step: int):
        """Picks under `root` (`best.json` and the files); keep those made at or before `resume_step` (-1: none)."""
        self.root = root
        self.path = root / "best.json"
        self.picks: dict[Score, BestPick] = {}
        if self.path.is_file() and resume_step >= 0:
            saved = [BestPick.model_validate(p) for p in json.loads(self.path.read_text())]
            self.picks = {p.score: p for p in saved if p.step <= resume_step}
            # a pick after the checkpoint would be redone, and its file may hold a later step's weights: drop both
            for score, name in FILE_NAMES.items():
                if score not in self.picks:
                    (root / name).unlink(missing_ok=True)
        self._write()

    def offer(self, score: Score, step: int, value: float, save: Callable[[Path, int], None]) -> bool:
        """Score the adapter at `step`; if it is the best yet by `score`, `save(path, step)` writes its LoRA file."""
        if step <= 0 or not math.isfinite(value):
            return False
        best = self.picks.get(score)
        if best is not None and value >= best.value:  # ties keep the earlier step (fewer steps, same score)
            return False
        path = self.root / FILE_NAMES[score]
        save(path, step)
        self.picks[score] = BestPick(score=score, step=step, value=value, lora_path=str(path))
        self._write()
        return True

    def _write(self) -> None:
        atomic_write_text(self.path, json.dumps([p.model_dump() for p in self.picks.values()], indent=2))

    def summary(self) -> dict[str, dict[str, float | int]]:
        """{score: {step, value}}: what config.json records."""
        return {s: {"step": p.step, "value": p.value} for s, p in self.picks.items()}


def header_note(picks: Sequence[BestPick]) -> str:
    """What the final reel's header says about the picks, e.g. 'best loss @ step 50, best seam @ step 25'."""
    names = {"held_out_loss": "best loss", "seam": "best seam"}
    return ", ".join(f"{names[p.score]} @ step {p.step}" for p in picks)
