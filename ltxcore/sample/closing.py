"""The closing clip: checked, fitted to the target geometry with the dataset's own fitter, and encoded into a suffix.

Which frames: the window that ENDS at the clip's end, `num_frames` long when the clip has that many frames at the
target rate (the same context the training windows gave the suffix latents: the encoder is causal), else the longest
8k+1 frames it has. A clip of exactly `conditioning_frames` frames gets its first frame repeated once in front, since
the VAE needs 8k+1 frames; a shorter one is a user error (422), raised before any model work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from ltxcore import geometry
from ltxcore.errors import ErrorDetail, RequestRejected
from ltxcore.geometry import snap_frames
from ltxcore.intake.fit import FitSettings, fit_clip
from ltxcore.manifests import ProbeInfo, SkippedClip, SourceClip, ValidationClip
from ltxcore.media.probe import probe
from ltxcore.model.encode import cut_audio_suffix, cut_video_suffix, encode_audio, encode_video
from ltxcore.model.encoder_inputs import read_video_frames
from ltxcore.model.loader import Components

Loc = tuple[str | int, ...]
_EPS = 1e-4  # as ltxcore.intake.fit: probe durations are rounded to 1e-6 s


@dataclass(frozen=True)
class Closing:
    """A fitted closing clip: uint8 frames [8k+1, H, W, 3] at `fps`, and its 16 kHz stereo WAV (None: no audio)."""

    frames: np.ndarray
    fps: float
    wav: Path | None

    @property
    def seconds(self) -> float:
        return self.frames.shape[0] / self.fps


@dataclass(frozen=True)
class Suffix:
    """Normalised clean latents: video [128, n, h, w], audio [8, m, 16] (None when no audio suffix)."""

    video: torch.Tensor
    audio: torch.Tensor | None


def frames_at(info: ProbeInfo, fps: float) -> int:
    """Whole frames the clip gives at the target rate (how fit.py counts them)."""
    return math.floor(info.duration * fps + _EPS)


def too_short(info: ProbeInfo, conditioning_frames: int, fps: float, loc: Loc) -> ErrorDetail | None:
    """The 422 detail for a clip shorter than the suffix at the target rate, or None when it is long enough."""
    have = frames_at(info, fps)
    if have >= conditioning_frames:
        return None
    return ErrorDetail(
        loc=loc,
        type="too_short",
        msg=f"the video gives {have} frames at {fps:g} fps ({info.duration:.2f} s); at least "
        f"conditioning_frames = {conditioning_frames} are needed to form the clean suffix",
    )


def validation_errors(clips: list[ValidationClip], conditioning_frames: int, fps: float) -> list[ErrorDetail]:
    """Every validation clip too short to extend, as 422 details (the flow can check this before training)."""
    found = (too_short(c.probe, conditioning_frames, fps, ("body", "validation", c.index, "video_url")) for c in clips)
    return [e for e in found if e is not None]


def fit_closing(
    path: Path,
    work_dir: Path,
    *,
    num_frames: int,
    fps: float,
    width: int,
    height: int,
    conditioning_frames: int,
    with_audio: bool,
    audio_normalize: bool = True,
    info: ProbeInfo | None = None,
    loc: Loc = ("video",),
) -> Closing:
    """Fit the end of `path` to width x height at fps (fit.py's ffmpeg pass), as 8k+1 frames; see the module doc."""
    info = info or probe(Path(path))
    error = too_short(info, conditioning_frames, fps, loc)
    if error is not None:
        raise RequestRejected([error])
    window = min(frames_at(info, fps), num_frames)
    window = snap_frames(window) if snap_frames(window) > conditioning_frames else window
    audio = with_audio and info.has_audio  # a silent clip gets its whole soundtrack generated, no audio suffix
    settings = FitSettings(
        num_frames=window,
        fps=fps,
        width=width,
        height=height,
        with_audio=audio,
        audio_normalize=audio_normalize,
        max_windows=1,
    )
    clip = SourceClip(id="closing", path=str(path), rel_path=Path(path).name, probe=info)
    fitted = fit_clip(clip, settings, Path(work_dir))
    if isinstance(fitted, SkippedClip):
        raise RequestRejected.one(loc, f"the video could not be fitted: {fitted.reason}", fitted.type)
    frames = read_video_frames(fitted[0].video_path)  # [window, H, W, 3]
    wav = Path(fitted[0].audio_path) if fitted[0].audio_path else None
    if window == conditioning_frames:
        frames, wav = _lead_with_first_frame(frames, wav, fps)
    return Closing(frames=frames, fps=fps, wav=wav)


def closing_from_frames(frames: np.ndarray, fps: float, wav: Path | None, conditioning_frames: int) -> Closing:
    """A closing clip from frames already at the target geometry (a chained extension): their last
    `conditioning_frames`, led by a repeat of the first; `wav` is 16 kHz audio of exactly those frames."""
    assert frames.shape[0] >= conditioning_frames, "fewer frames than the suffix"
    frames, wav = _lead_with_first_frame(frames[-conditioning_frames:], wav, fps)
    return Closing(frames=frames, fps=fps, wav=wav)


def _lead_with_first_frame(frames: np.ndarray, wav: Path | None, fps: float) -> tuple[np.ndarray, Path | None]:
    """Repeat the first frame once in front (8k -> 8k+1) and put 1/fps s of silence in front of the audio."""
    frames = np.concatenate([frames[:1], frames])  # [8k+1, H, W, 3]
    if wav is None:
        return frames, None
    audio, rate = sf.read(str(wav), dtype="float32", always_2d=True)  # [N, 2]
    target = round(rate * frames.shape[0] / fps)
    audio = np.concatenate([np.zeros((max(0, target - len(audio)), audio.shape[1]), np.float32), audio])[-target:]
    padded = wav.with_name(wav.stem + "-lead.wav")
    sf.write(str(padded), audio, rate, subtype="FLOAT", format="WAV")
    return frames, padded


@torch.no_grad()
def encode_suffix(components: Components, closing: Closing, conditioning_frames: int) -> tuple[Suffix, torch.Tensor]:
    """The clean suffix cut from the WHOLE closing clip's encoding, and that encoding ([128, F', h, w]) itself."""
    video = encode_video(components, closing.frames)  # [128, F', h, w]
    audio = None
    if closing.wav is not None:
        audio = encode_audio(components, closing.wav, closing.seconds)  # [8, round(25 s), 16]
        audio = cut_audio_suffix(audio, conditioning_frames, closing.fps)  # [8, m, 16]
    assert geometry.latent_frames(closing.frames.shape[0]) == video.shape[1]
    return Suffix(video=cut_video_suffix(video, conditioning_frames), audio=audio), video
