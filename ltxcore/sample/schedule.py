"""The LTX-2 sigma schedule, built by diffusers' `FlowMatchEulerDiscreteScheduler` from the checkpoint's own config.

N steps: linspace(1, 1/N, N) -> exponential time shift exp(mu) / (exp(mu) + 1/s - 1) -> stretched so that the last
non-zero sigma equals `shift_terminal` (0.1) -> 0 appended. That is the official `LTX2Scheduler` arithmetic (it shifts
linspace(1, 0, N+1) and leaves the final 0 alone, which gives the same N+1 values).

mu interpolates linearly between base_shift (0.95) at 1024 tokens and max_shift (2.05) at 4096. The official pipelines
and the trainer's validation call the scheduler without a latent, so they always use 4096 tokens (mu = 2.05, whatever
the resolution); diffusers' own pipelines use the real token count instead. We follow the official code by default
(`tokens=None`) and let a caller pass a token count to reproduce diffusers.

Distilled checkpoints sample with a fixed 8-step sigma list instead (the official `DISTILLED_SIGMA_VALUES`, which
diffusers ships too). Their diffusers scheduler config says so by turning the dynamic shift off (diffusers' conversion
writes `use_dynamic_shifting=False, shift_terminal=None` for them); the shift arithmetic above would give them a plain
linear schedule, so such a config gets the distilled list, and any other step count is refused.
"""

from __future__ import annotations

import copy

import numpy as np
from diffusers import FlowMatchEulerDiscreteScheduler
from diffusers.pipelines.ltx2.pipeline_ltx2 import calculate_shift
from diffusers.pipelines.ltx2.utils import DISTILLED_SIGMA_VALUES

from ltxcore.errors import RequestRejected

REF_SHIFT_TOKENS = 4096  # official `MAX_SHIFT_ANCHOR`: the token count its schedule assumes when given no latent


def shift_mu(scheduler: FlowMatchEulerDiscreteScheduler, tokens: int | None = None) -> float:
    """The time-shift mu for `tokens` tokens (None: the official 4096)."""
    cfg = scheduler.config
    return calculate_shift(
        REF_SHIFT_TOKENS if tokens is None else tokens,
        cfg.base_image_seq_len,
        cfg.max_image_seq_len,
        cfg.base_shift,
        cfg.max_shift,
    )


def ltx2_scheduler(
    scheduler: FlowMatchEulerDiscreteScheduler, steps: int, tokens: int | None = None
) -> FlowMatchEulerDiscreteScheduler:
    """A fresh copy of `scheduler` with its N-step LTX-2 schedule set: `.sigmas` [N+1] (ending in 0), `.timesteps` [N].

    A copy, because `step()` keeps a step index: video and audio each need their own, and the loaded component stays
    untouched for the next caller.
    """
    if is_distilled(scheduler):
        return _distilled(scheduler, steps)
    if steps < 2:  # one step leaves nothing to stretch: the terminal stretch divides 0 by 0 (officially too)
        raise ValueError(f"sampling needs at least 2 steps (got {steps})")
    sched = copy.deepcopy(scheduler)
    sigmas = np.linspace(1.0, 1.0 / steps, steps)
    sched.set_timesteps(sigmas=sigmas, mu=shift_mu(sched, tokens))
    sched.set_begin_index(0)
    return sched


def is_distilled(scheduler: FlowMatchEulerDiscreteScheduler) -> bool:
    """A distilled checkpoint's scheduler: no token-dependent shift (the 2.3 dev config always has one)."""
    return not scheduler.config.use_dynamic_shifting


def _distilled(scheduler: FlowMatchEulerDiscreteScheduler, steps: int) -> FlowMatchEulerDiscreteScheduler:
    """The official distilled schedule: its fixed sigmas, then 0; `.sigmas` [9], `.timesteps` [8]."""
    n = len(DISTILLED_SIGMA_VALUES)
    if steps != n:  # a user's choice (`--steps`), so the contract's 422 rather than a traceback
        raise RequestRejected.one(
            ("steps",),
            f"these weights are distilled (their scheduler has no dynamic shift): "
            f"they sample with the official fixed {n}-step sigma list, so steps must be {n} "
            f"(got {steps})",
            "distilled_steps",
        )
    cfg = scheduler.config
    reshapes = (
        cfg.get("shift", 1.0) != 1.0
        or cfg.get("shift_terminal")
        or any(cfg.get(k) for k in ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas"))
    )
    if reshapes:  # the model directory's config, not our code: say what is wrong with it
        raise ValueError(
            "a scheduler without dynamic shift (distilled weights) must leave the given sigmas as they "
            "are: shift 1, no shift_terminal, no karras/exponential/beta sigmas"
        )
    sched = copy.deepcopy(scheduler)
    sched.set_timesteps(sigmas=np.array(DISTILLED_SIGMA_VALUES))
    sched.set_begin_index(0)
    return sched
