"""Sign oracles for sampling: with a stand-in transformer that returns the exact velocity (noise - x0) toward known
clean latents, `sample()` must land on them, and guidance must push AWAY from each unconditioned prediction."""

from __future__ import annotations

import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from ltxcore.model.forward import TextBatch, VideoGeometry, pack_video, unpack_audio, unpack_video
from ltxcore.model.tiny import SCHEDULER
from ltxcore.sample.guidance import Guidance
from ltxcore.sample.sampler import place_audio_suffix, place_video_suffix, sample
from tests.support.oracle_standin import ExactVelocity, Targets

GEO = VideoGeometry(frames=4, height=2, width=3, fps=24.0)  # 24 video tokens, the last latent frame the suffix
AUDIO_STEPS = 11


def _text() -> TextBatch:
    gen = torch.Generator().manual_seed(5)
    return TextBatch(
        video=torch.randn(2, 8, 32, generator=gen),
        audio=torch.randn(2, 8, 16, generator=gen),
        mask=torch.ones(2, 8, dtype=torch.int64),
    )  # row 0 the prompt, row 1 the negative prompt


def _clean(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    video = torch.randn(1, 128, GEO.frames, GEO.height, GEO.width, generator=gen)  # [1, 128, F, h, w]
    return pack_video(video), torch.randn(1, AUDIO_STEPS, 128, generator=gen)  # [1, Nv, 128], [1, Na, 128]


def _run(model: ExactVelocity, guidance: Guidance, steps: int = 4):
    video_x0, audio_x0 = _clean(0)
    suffix = unpack_video(video_x0, GEO.frames, GEO.height, GEO.width)[0, :, -1:]  # [128, 1, h, w]
    placed_v = place_video_suffix(suffix, GEO.frames)
    placed_a = place_audio_suffix(unpack_audio(audio_x0[:, -3:])[0], AUDIO_STEPS, torch.device("cpu"))  # 3 clean
    sched = FlowMatchEulerDiscreteScheduler(**SCHEDULER)
    v, a = sample(
        model,
        sched,
        _text(),
        GEO,
        placed_v,
        placed_a,
        guidance,
        steps=steps,
        generator=torch.Generator().manual_seed(1),
    )
    return v, a, placed_v, placed_a


def test_sample_with_the_exact_velocity_recovers_the_clean_latents() -> None:
    video_x0, audio_x0 = _clean(0)
    model = ExactVelocity(Targets(cond=video_x0), Targets(cond=audio_x0))
    v, a, placed_v, placed_a = _run(model, Guidance(cfg=1.0, audio_cfg=1.0, stg_scale=0.0, modality=1.0))
    gen_v, gen_a = placed_v.generate[0], placed_a.generate[0]
    err_v = float((v - video_x0)[0, gen_v].abs().max())
    err_a = float((a - audio_x0)[0, gen_a].abs().max())
    print(f"lead-in recovered within {err_v:.2e} (video), {err_a:.2e} (audio)")
    assert err_v < 1e-4 and err_a < 1e-4
    assert float(video_x0.abs().max()) > 2.0  # a clean target far from zero, so a miss would show
    # The clean suffix is re-imposed bit for bit.
    assert torch.equal(v[0, ~gen_v], placed_v.clean[0, ~gen_v]) and torch.equal(a[0, ~gen_a], placed_a.clean[0, ~gen_a])
    # A model with the opposite velocity convention lands far away: the test sees the sign.
    flipped, _, _, _ = _run(
        ExactVelocity(Targets(cond=video_x0), Targets(cond=audio_x0), flip=-1.0),
        Guidance(cfg=1.0, audio_cfg=1.0, stg_scale=0.0, modality=1.0),
    )
    assert float((flipped - video_x0)[0, gen_v].abs().max()) > 1.0


def test_guidance_pushes_away_from_the_negative_prompt_the_stg_and_the_isolated_predictions() -> None:
    c_v, c_a = _clean(0)
    u_v, u_a = _clean(1)
    p_v, p_a = _clean(2)
    i_v, i_a = _clean(3)
    text = _text()
    model = ExactVelocity(
        Targets(cond=c_v, uncond=u_v, perturbed=p_v, isolated=i_v),
        Targets(cond=c_a, uncond=u_a, perturbed=p_a, isolated=i_a),
        negative_text=text.video[1],
    )
    g = Guidance(cfg=3.0, audio_cfg=7.0, stg_scale=1.0, modality=3.0, rescale=0.0, stg_blocks=(1,))
    v, a, placed_v, placed_a = _run(model, g)
    # Every pass predicts a fixed x0, so every step's guided x0 is the same point and Euler ends exactly on it.
    want_v = c_v + (3.0 - 1) * (c_v - u_v) + 1.0 * (c_v - p_v) + (3.0 - 1) * (c_v - i_v)
    want_a = c_a + (7.0 - 1) * (c_a - u_a) + 1.0 * (c_a - p_a) + (3.0 - 1) * (c_a - i_a)
    gen_v, gen_a = placed_v.generate[0], placed_a.generate[0]
    err_v = float((v - want_v)[0, gen_v].abs().max())
    err_a = float((a - want_a)[0, gen_a].abs().max())
    print(f"guided end point within {err_v:.2e} (video), {err_a:.2e} (audio)")
    assert err_v < 1e-3 and err_a < 1e-3
    assert float((want_v - c_v)[0, gen_v].abs().max()) > 5.0  # guidance moved the end point a long way
