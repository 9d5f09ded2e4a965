"""Audio that cannot teach anything: training windows whose fitted audio (after peak normalisation) is silent or
nearly so. With `with_audio` a silent window would train the audio branch to produce silence, so:

- silent (peak below -60 dBFS: digital silence stays silent through normalisation) -> skipped, with the reason;
- near-silent (under 10% of its 50 ms frames reach -40 dBFS RMS, e.g. one click or a tone in the last moment) ->
  kept with a warning while such windows are a minority of the dataset, skipped with the reason once they are not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from ltxcore.manifests import FittedClip, SkippedClip

SILENT_PEAK_DBFS = -60.0
ACTIVE_RMS_DBFS = -40.0
FRAME_S = 0.05
MIN_ACTIVE_FRACTION = 0.10


@dataclass(frozen=True)
class AudioLevel:
    peak_dbfs: float
    active_fraction: float = 0.0  # of 50 ms frames whose RMS reaches ACTIVE_RMS_DBFS

    @property
    def silent(self) -> bool:
        return self.peak_dbfs < SILENT_PEAK_DBFS

    @property
    def near_silent(self) -> bool:
        return not self.silent and self.active_fraction < MIN_ACTIVE_FRACTION


def _dbfs(x: np.ndarray) -> np.ndarray:
    return 20 * np.log10(np.maximum(x, 1e-10))


def audio_level(path: str) -> AudioLevel:
    """Peak and activity of a WAV (all channels)."""
    audio, rate = sf.read(path, dtype="float32", always_2d=True)  # [S, C]
    peak = float(_dbfs(np.abs(audio).max(initial=0.0)))
    n = max(1, int(rate * FRAME_S))
    frames = audio[: len(audio) // n * n].reshape(-1, n, audio.shape[1])  # [frames, n, C]
    if frames.shape[0] == 0:
        return AudioLevel(peak_dbfs=peak)
    rms = np.sqrt(np.mean(frames**2, axis=(1, 2)))  # [frames]
    return AudioLevel(peak_dbfs=peak, active_fraction=float(np.mean(_dbfs(rms) >= ACTIVE_RMS_DBFS)))


def screen_audio(clips: Sequence[FittedClip]) -> tuple[list[FittedClip], list[SkippedClip], list[str]]:
    """(windows kept, windows skipped with their reason, warnings) for a with-audio dataset."""
    levels = {c.id: audio_level(c.audio_path) for c in clips if c.audio_path}
    sounding = [c for c in clips if not (c.id in levels and levels[c.id].silent)]
    near = [c for c in sounding if c.id in levels and levels[c.id].near_silent]
    skip_near = len(near) * 2 >= len(sounding)  # not a minority any more: training on them would teach silence
    kept, skipped = [], []
    for c in clips:
        level = levels.get(c.id)
        where = f"window {c.source_start:.2f}-{c.source_end:.2f} s"
        if level is not None and level.silent:
            skipped.append(
                SkippedClip(
                    file=c.rel_path,
                    type="silent_audio",
                    reason=f"audio is silent in {where} (peak {level.peak_dbfs:.0f} dBFS)",
                )
            )
        elif level is not None and level.near_silent and skip_near:
            skipped.append(
                SkippedClip(
                    file=c.rel_path,
                    type="near_silent_audio",
                    reason=f"audio is near-silent in {where} ({level.active_fraction:.0%} of it "
                    f"above {ACTIVE_RMS_DBFS:.0f} dBFS), as in most of the dataset",
                )
            )
        else:
            kept.append(c)
    warnings = []
    if near and not skip_near:
        files = ", ".join(sorted({c.rel_path for c in near}))
        warnings.append(
            f"{len(near)} of {len(sounding)} training windows have near-silent audio ({files}); kept, "
            "but the audio branch learns little from them"
        )
    return kept, skipped, warnings
