"""Seam quality: how abrupt the cut from the generated lead-in into the clean suffix is, relative to normal motion.

    ratio = d(last generated frame, first suffix frame) / median over the suffix of d(frame t, frame t+1)

d is the mean absolute pixel difference in [0, 1]. About 1 means the seam moves like the clip itself; well above 1 is a
visible jump. The median's floor is one grey level (1/255), so a still suffix does not turn a tiny seam into a huge
ratio.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

_FLOOR = 1.0 / 255


class SeamMetric(BaseModel):
    """The seam between the lead-in and the suffix, in mean absolute pixel difference (0..1)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seam_diff: float = Field(description="Last generated frame -> first suffix frame.")
    suffix_median_diff: float = Field(description="Median frame-to-frame difference inside the suffix.")
    ratio: float = Field(description="seam_diff / max(suffix_median_diff, 1/255); ~1 is seamless.")


def frame_diffs(frames: np.ndarray) -> np.ndarray:
    """uint8 [F, H, W, 3] -> [F-1] mean |frame t+1 - frame t| in [0, 1]."""
    x = frames.astype(np.float32) / 255.0  # [F, H, W, 3]
    return np.abs(np.diff(x, axis=0)).mean(axis=(1, 2, 3))  # [F-1]


def seam_metric(frames: np.ndarray, suffix_frames: int) -> SeamMetric:
    """The seam of a clip whose last `suffix_frames` frames are the clean suffix (uint8 [F, H, W, 3])."""
    f = frames.shape[0]
    assert 2 <= suffix_frames < f, f"need a lead-in and at least 2 suffix frames (got {suffix_frames} of {f})"
    diffs = frame_diffs(frames[f - suffix_frames - 1 :])  # [suffix_frames]: the seam, then inside the suffix
    seam, inside = float(diffs[0]), float(np.median(diffs[1:]))
    return SeamMetric(seam_diff=seam, suffix_median_diff=inside, ratio=seam / max(inside, _FLOOR))
