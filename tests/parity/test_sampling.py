"""Sampling against the official components: the sigma schedule (`LTX2Scheduler`), the guidance combination
(`MultiModalGuider` on the official model's per-row x0 predictions) and whole guided runs with the official Euler
step (`EulerDiffusionStep`), the clean suffix re-blended after every step as the official denoise mask does."""

from __future__ import annotations

import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler
from ltx_core.components.diffusion_steps import EulerDiffusionStep
from ltx_core.components.guiders import MultiModalGuider, MultiModalGuiderParams
from ltx_core.components.schedulers import LTX2Scheduler
from ltx_core.guidance.perturbations import (
    BatchedPerturbationConfig,
    Perturbation,
    PerturbationConfig,
    PerturbationType,
)

from ltxcore.model.forward import TextBatch
from ltxcore.model.tiny import SCHEDULER
from ltxcore.sample.guidance import Guidance, Noisy, guided_x0
from ltxcore.sample.sampler import Placed, sample
from ltxcore.sample.schedule import ltx2_scheduler
from tests.parity.oracle import Case, official_velocity

GUIDANCE = Guidance(cfg=3.0, audio_cfg=7.0, stg_scale=1.0, rescale=0.7, modality=3.0, stg_blocks=(1,))


def official_params(cfg: float) -> MultiModalGuiderParams:
    return MultiModalGuiderParams(
        cfg_scale=cfg,
        stg_scale=GUIDANCE.stg_scale,
        rescale_scale=GUIDANCE.rescale,
        modality_scale=GUIDANCE.modality,
        stg_blocks=list(GUIDANCE.stg_blocks),
    )


@pytest.mark.parametrize("steps", [2, 8, 30])
@pytest.mark.parametrize("tokens", [None, 93, 1024, 6120, 6912])
def test_the_sigma_schedule_matches_the_official_scheduler(steps: int, tokens: int | None) -> None:
    ours = ltx2_scheduler(FlowMatchEulerDiscreteScheduler(**SCHEDULER), steps, tokens).sigmas
    latent = None if tokens is None else torch.empty(1, 128, tokens, 1, 1)  # the official count: prod(shape[2:])
    theirs = LTX2Scheduler().execute(steps, latent=latent)
    diff = float((ours - theirs).abs().max())
    print(f"{steps} steps, {tokens or 'default 4096'} tokens: max sigma difference {diff:.1e}")
    assert ours.shape == theirs.shape == (steps + 1,)
    assert diff < 1e-6


def _one_row(case: Case, row: int) -> tuple[Noisy, Noisy, TextBatch]:
    """Row `row` of the case as a sampler state (sigma = the row's video sigma for both modalities) and the text as
    two rows: the case's prompt row, then its other row as the negative prompt."""
    sigma = float(case.sigma[row])
    video = Noisy(x=case.video[row : row + 1], sigmas=(case.video_sigmas[row : row + 1] > 0).float() * sigma)
    audio = Noisy(x=case.audio[row : row + 1], sigmas=(case.audio_sigmas[row : row + 1] > 0).float() * sigma)
    order = [row, 1 - row]
    text = TextBatch(video=case.text.video[order], audio=case.text.audio[order], mask=case.text.mask[order])
    return video, audio, text


def official_guided_x0(model, video: Noisy, audio: Noisy, sigma: float, text: TextBatch, geometry):
    """Four official passes (cond, negative prompt, STG, isolated modalities), to x0 with each token's timestep,
    combined by the official guiders (video CFG 3, audio CFG 7, STG 1, modality 3, rescale 0.7)."""
    stg = PerturbationConfig(
        [
            Perturbation(PerturbationType.SKIP_VIDEO_SELF_ATTN, list(GUIDANCE.stg_blocks)),
            Perturbation(PerturbationType.SKIP_AUDIO_SELF_ATTN, list(GUIDANCE.stg_blocks)),
        ]
    )
    iso = PerturbationConfig(
        [
            Perturbation(PerturbationType.SKIP_A2V_CROSS_ATTN, None),
            Perturbation(PerturbationType.SKIP_V2A_CROSS_ATTN, None),
        ]
    )
    s = torch.tensor([sigma])
    x0 = {}
    for role, text_row, perturbation in (("cond", 0, None), ("uncond", 1, None), ("stg", 0, stg), ("iso", 0, iso)):
        t = TextBatch(
            video=text.video[text_row : text_row + 1],
            audio=text.audio[text_row : text_row + 1],
            mask=text.mask[text_row : text_row + 1],
        )
        config = None if perturbation is None else BatchedPerturbationConfig([perturbation])
        v, a = official_velocity(model, video.x, video.sigmas, s, t, geometry, audio.x, audio.sigmas, s, config)
        x0[role] = (video.x - video.sigmas[..., None] * v, audio.x - audio.sigmas[..., None] * a)  # to_denoised
    out = []
    for m, cfg in ((0, GUIDANCE.cfg), (1, GUIDANCE.audio_cfg)):
        guider = MultiModalGuider(official_params(cfg))
        out.append(guider.calculate(x0["cond"][m], x0["uncond"][m], x0["stg"][m], x0["iso"][m]))
    return out


def test_the_guided_x0_matches_the_official_multimodal_guider(twins, case: Case) -> None:
    video, audio, text = _one_row(case, 0)
    sigma = float(case.sigma[0])
    with torch.no_grad():
        v, a = guided_x0(twins.diffusers, video, audio, sigma, text, case.geometry, GUIDANCE)
    ov, oa = official_guided_x0(twins.official, video, audio, sigma, text, case.geometry)
    dv, da = float((v - ov).abs().max()), float((a - oa).abs().max())
    print(f"guided x0 max difference: video {dv:.1e}, audio {da:.1e}")
    assert dv < 1e-5 and da < 1e-5
    with torch.no_grad():
        cond_only, _ = guided_x0(
            twins.diffusers,
            video,
            audio,
            sigma,
            text,
            case.geometry,
            Guidance(cfg=1.0, audio_cfg=1.0, stg_scale=0.0, modality=1.0),
        )
    assert float((cond_only - ov).abs().max()) > 1e-2  # guidance is a visible term here


@pytest.mark.parametrize("steps", [2, 4])
def test_a_guided_run_with_a_clean_suffix_matches_the_official_euler_loop(twins, case: Case, steps: int) -> None:
    video, audio, text = _one_row(case, 0)
    placed_v = Placed(clean=case.video[:1], generate=video.sigmas > 0)
    placed_a = Placed(clean=case.audio[:1], generate=audio.sigmas > 0)
    sched = FlowMatchEulerDiscreteScheduler(**SCHEDULER)
    with torch.no_grad():
        v, a = sample(
            twins.diffusers,
            sched,
            text,
            case.geometry,
            placed_v,
            placed_a,
            GUIDANCE,
            steps=steps,
            generator=torch.Generator().manual_seed(4),
        )
    ours_sigmas = ltx2_scheduler(sched, steps).sigmas
    official_sigmas = LTX2Scheduler().execute(steps)  # official default: 4096 tokens, terminal 0.1
    # On our sigmas (equal to the official ones within 1e-6, tested above) the loops must agree to rounding.
    ov, oa = official_run(twins.official, placed_v, placed_a, text, case, ours_sigmas)
    dv, da = float((v - ov).abs().max()), float((a - oa).abs().max())
    # On the official sigmas: its float32 shift puts the first sigma just below 1 (1 - 4.8e-7 at 2 steps), moving the
    # timestep embedding at t = 1000 (frequencies up to 1 rad per unit) by about 5e-4: visible, but tiny.
    sv, sa = official_run(twins.official, placed_v, placed_a, text, case, official_sigmas)
    ev, ea = float((v - sv).abs().max()), float((a - sa).abs().max())
    print(
        f"{steps}-step guided run max difference: video {dv:.1e}, audio {da:.1e} on the same sigmas; "
        f"{ev:.1e}, {ea:.1e} on the official scheduler's own (first sigma {float(official_sigmas[0]):.7f})"
    )
    assert dv < 1e-4 and da < 1e-4
    assert ev < 2e-3 and ea < 2e-3
    suffix_v, suffix_a = ~placed_v.generate[0], ~placed_a.generate[0]
    assert torch.equal(v[0, suffix_v], case.video[0, suffix_v]) and torch.equal(a[0, suffix_a], case.audio[0, suffix_a])
    assert torch.equal(ov[0, suffix_v], case.video[0, suffix_v])  # the official loop keeps it bit-exact too


def official_run(
    model, placed_v: Placed, placed_a: Placed, text: TextBatch, case: Case, sigmas: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The official loop from the sampler's start (it draws video noise, then audio noise, from its generator):
    guided x0, clean where the denoise mask is 0, the official Euler step."""
    gen = torch.Generator().manual_seed(4)
    masks = [placed_v.generate[..., None].float(), placed_a.generate[..., None].float()]  # denoise masks [1, N, 1]
    clean = [placed_v.clean, placed_a.clean]
    states = [torch.randn(c.shape, generator=gen) * m + c * (1 - m) for c, m in zip(clean, masks, strict=True)]
    euler = EulerDiffusionStep()
    for i in range(len(sigmas) - 1):
        sigma = float(sigmas[i])
        noisy = [Noisy(x=x, sigmas=sigma * m[..., 0]) for x, m in zip(states, masks, strict=True)]
        x0s = official_guided_x0(model, noisy[0], noisy[1], sigma, text, case.geometry)
        x0s = [x0 * m + c * (1 - m) for x0, m, c in zip(x0s, masks, clean, strict=True)]
        states = [euler.step(x, x0, sigmas, i) for x, x0 in zip(states, x0s, strict=True)]
    return states[0], states[1]


def test_the_guided_x0_of_a_video_only_extension_matches_the_official_guider(twins, case: Case) -> None:
    video, _, text = _one_row(case, 1)
    sigma = float(case.sigma[1])
    g = Guidance(cfg=3.0, stg_scale=1.0, rescale=0.7, modality=3.0, stg_blocks=(0,))  # no audio: nothing to isolate
    with torch.no_grad():
        v, a = guided_x0(twins.diffusers, video, None, sigma, text, case.geometry, g)
    stg = PerturbationConfig([Perturbation(PerturbationType.SKIP_VIDEO_SELF_ATTN, [0])])
    s = torch.tensor([sigma])
    x0 = {}
    for role, row, perturbation in (("cond", 0, None), ("uncond", 1, None), ("stg", 0, stg)):
        t = TextBatch(video=text.video[row : row + 1], audio=text.audio[row : row + 1], mask=text.mask[row : row + 1])
        config = None if perturbation is None else BatchedPerturbationConfig([perturbation])
        ov, _ = official_velocity(twins.official, video.x, video.sigmas, s, t, case.geometry, perturbations=config)
        x0[role] = video.x - video.sigmas[..., None] * ov
    params = MultiModalGuiderParams(cfg_scale=3.0, stg_scale=1.0, rescale_scale=0.7, modality_scale=1.0, stg_blocks=[0])
    official = MultiModalGuider(params).calculate(x0["cond"], x0["uncond"], x0["stg"], 0.0)
    diff = float((v - official).abs().max())
    print(f"video-only guided x0 max difference: {diff:.1e}")
    assert a is None and diff < 1e-5
    assert float((x0["cond"] - official).abs().max()) > 1e-2
