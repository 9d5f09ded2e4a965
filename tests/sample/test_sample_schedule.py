"""The LTX-2 sigma schedule and the seam metric: plain numbers, no model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from ltxcore.model.tiny import SCHEDULER
from ltxcore.sample.schedule import ltx2_scheduler, shift_mu
from ltxcore.sample.seam import seam_metric


def official_sigmas(steps: int, mu: float, terminal: float = 0.1) -> torch.Tensor:
    """The official LTX2Scheduler arithmetic, written out: shift linspace(1, 0), stretch the non-zero part."""
    s = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
    shifted = torch.where(s > 0, math.exp(mu) / (math.exp(mu) + (1 / s.clamp_min(1e-12) - 1)), 0.0)
    nz = shifted > 0
    one_minus = 1 - shifted[nz]
    shifted[nz] = 1 - one_minus / (one_minus[-1] / (1 - terminal))
    return shifted.float()


@pytest.mark.parametrize("steps", [2, 30])
def test_schedule_is_the_official_one_at_4096_tokens(steps: int) -> None:
    sched = ltx2_scheduler(FlowMatchEulerDiscreteScheduler(**SCHEDULER), steps)
    assert sched.sigmas.shape == (steps + 1,) and len(sched.timesteps) == steps
    assert (sched.sigmas - official_sigmas(steps, 2.05)).abs().max() < 1e-6
    assert sched.sigmas[0] == 1.0 and abs(float(sched.sigmas[-2]) - 0.1) < 1e-6 and sched.sigmas[-1] == 0.0


def test_shift_follows_the_token_count_only_when_asked() -> None:
    base = FlowMatchEulerDiscreteScheduler(**SCHEDULER)
    assert shift_mu(base) == pytest.approx(2.05)
    assert shift_mu(base, 1024) == pytest.approx(0.95)
    assert shift_mu(base, 2560) == pytest.approx(1.5)
    low = ltx2_scheduler(base, 30, tokens=1024)
    assert (low.sigmas - official_sigmas(30, 0.95)).abs().max() < 1e-6
    assert len(base.timesteps) == SCHEDULER.get("num_train_timesteps", 1000)  # the loaded scheduler is untouched


def ramp(frames: int, jump_at: int | None = None, jump: int = 0) -> np.ndarray:
    """Grey frames brightening by 2 levels per frame, optionally with an extra jump before frame `jump_at`."""
    levels = np.arange(frames) * 2 + 40
    if jump_at is not None:
        levels[jump_at:] += jump
    return np.broadcast_to(levels[:, None, None, None], (frames, 4, 4, 3)).astype(np.uint8)


def test_seam_ratio_is_one_for_steady_motion_and_large_for_a_jump() -> None:
    steady = seam_metric(ramp(17), suffix_frames=8)
    assert steady.ratio == pytest.approx(1.0)
    assert steady.seam_diff == pytest.approx(2 / 255)
    cut = seam_metric(ramp(17, jump_at=9, jump=40), suffix_frames=8)
    assert cut.ratio == pytest.approx(21.0)
    still = np.full((17, 4, 4, 3), 100, np.uint8)
    still[:9] = 99  # a one-level seam into a frozen suffix: the floor keeps the ratio at 1, not infinity
    assert seam_metric(still, suffix_frames=8).ratio == pytest.approx(1.0)
