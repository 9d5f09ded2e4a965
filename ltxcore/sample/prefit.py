"""Fit every validation clip with the reel's own code before any clip is encoded or any step is trained.

`render_validation` fits each closing clip with `fit_closing` at the reel's settings; a clip it cannot use there
used to fail the job after training, throwing the trained LoRA away. Running the same call first turns that into a
422 with 0 billable units, naming each clip.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from ltxcore.errors import ErrorDetail, RequestRejected
from ltxcore.manifests import ValidationClip
from ltxcore.sample.extend import ExtendSettings, fit_closing_for


def prefit_validation(clips: Sequence[ValidationClip], settings: ExtendSettings) -> None:
    """Fit every clip exactly as `render_validation` will with `settings`; `RequestRejected` naming each clip
    (`("body", "validation", index, "video_url")`) the reel could not use. The fitted frames are thrown away."""
    problems: list[ErrorDetail] = []
    for clip in clips:
        loc = ("body", "validation", clip.index, "video_url")
        with tempfile.TemporaryDirectory(prefix="prefit-") as tmp:
            try:
                fit_closing_for(Path(clip.path), Path(tmp), settings, loc)
            except RequestRejected as exc:
                problems.extend(exc.details)
    if problems:
        raise RequestRejected(problems)
