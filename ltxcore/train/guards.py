"""Training guardrails for the audio branch, the part of a joint run that fails silently.

- Non-finite values (a poisoned batch, an overflow): the step's losses and each modality's gradient norm are checked
  after every step, and the run stops with `NonFiniteTraining`, naming the modality, the step and the clips, instead
  of training on NaN weights.
- Zero audio gradients (a frozen or disconnected audio branch): counted per step from the metrics log.
- An audio loss that stays flat or diverges while the video loss falls: read from the held-out validation losses,
  which use fixed noise and sigmas, so a trend there is the model's and not the sampler's.
Findings are logged when first seen and listed in the training summary (`LoraRun.guard_findings`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch

VIDEO_FALLS = -0.05  # relative change of the held-out video loss since step 0 that counts as learning
AUDIO_FLAT_SHARE = 0.2  # audio "flat": it fell by less than this share of the video's relative fall
AUDIO_DIVERGES = 0.05  # audio "diverging": its held-out loss rose by more than this since step 0


class NonFiniteTraining(FloatingPointError):
    """A loss or a gradient became NaN or infinite; the run stopped before the next step trained on it."""


def grad_norms(video: Iterable[torch.nn.Parameter], audio: Iterable[torch.nn.Parameter]) -> torch.Tensor:
    """[2] L2 norms of the video and the audio adapters' gradients (a missing gradient counts as zero), on the device
    and without a host sync, so the step fetches them with its losses."""
    out = []
    for params in (video, audio):
        norms = [p.grad.detach().float().norm() for p in params if p.grad is not None]  # [] scalars
        out.append(torch.stack(norms).norm() if norms else torch.zeros(()))
    return torch.stack([o.to(out[0].device) for o in out])  # [2]


def check_finite(step: int, losses: dict[str, float | None], grads: dict[str, float], clips: Sequence[int]) -> None:
    """Raise NonFiniteTraining when any loss or gradient norm of `step` is NaN or infinite."""
    bad = [f"{name} loss {v}" for name, v in losses.items() if v is not None and not math.isfinite(v)]
    bad += [f"{name} gradient norm {v}" for name, v in grads.items() if not math.isfinite(v)]
    if bad:
        raise NonFiniteTraining(
            f"training stopped at step {step}: {', '.join(bad)} (clips {list(clips)} of the latent cache); the "
            "weights of this step were not checkpointed: check those clips' latents, or lower the learning rate"
        )


def findings(steps: Sequence[dict[str, Any]], validation: Sequence[dict[str, Any]], with_audio: bool) -> list[str]:
    """What the guards saw in a run's metrics log: step records (with grad_norm_audio) and validation records."""
    if not with_audio:
        return []
    out = []
    zero = [r["step"] for r in steps if r.get("grad_norm_audio") == 0.0]
    if zero:
        out.append(
            f"audio gradients were zero on {len(zero)} of {len(steps)} steps (first at step {zero[0]}): the "
            "audio adapters are not learning (frozen or disconnected audio branch)"
        )
    trend = audio_trend(validation)
    if trend:
        out.append(trend)
    return out


def audio_trend(validation: Sequence[dict[str, Any]]) -> str | None:
    """'flat' or 'diverging' audio against a falling video held-out loss since step 0, or None."""
    points = [p for p in validation if p.get("loss_audio") is not None]
    if len(points) < 2 or points[0]["step"] != 0:
        return None
    first, last = points[0], points[-1]
    video = last["loss_video"] / first["loss_video"] - 1
    audio = last["loss_audio"] / first["loss_audio"] - 1
    where = f"held-out video loss {video:+.1%}, audio loss {audio:+.1%} from step 0 to step {last['step']}"
    if video > VIDEO_FALLS:
        return None
    if audio > AUDIO_DIVERGES:
        return f"audio loss diverges while video learns ({where})"
    if audio > AUDIO_FLAT_SHARE * video:
        return f"audio loss stays flat while video learns ({where})"
    return None
