"""Transformer velocity: the project's one call into diffusers (`predict_velocity`) against the official `LTXModel`
on shared seeded weights. The official side is ltx-core 1.0.0 with the ltx-core 1.1.4 cross-timestep scale-shift
change applied in `oracle.own_timestep_scale_shift` (see oracle.py); 1.0.0 unpatched is compared on its own below."""

from __future__ import annotations

import pytest
import torch
from ltx_core.guidance.perturbations import (
    BatchedPerturbationConfig,
    Perturbation,
    PerturbationConfig,
    PerturbationType,
)

from ltxcore.model.forward import predict_velocity
from tests.parity.names import DIFFUSERS_TO_OFFICIAL, to_diffusers, to_official
from tests.parity.oracle import CONFIG, Case, official_velocity, seeded_diffusers_transformer

EXACT = 1e-5  # fp32 on CPU: the measured differences are 0.0; this leaves room for another BLAS


def ours(twins, case: Case, **kwargs):
    with torch.no_grad():
        return predict_velocity(
            twins.diffusers,
            case.video,
            case.video_sigmas,
            case.sigma,
            case.text,
            case.geometry,
            case.audio,
            case.audio_sigmas,
            case.audio_sigma,
            **kwargs,
        )


def theirs(model, case: Case, perturbations: BatchedPerturbationConfig | None = None):
    return official_velocity(
        model,
        case.video,
        case.video_sigmas,
        case.sigma,
        case.text,
        case.geometry,
        case.audio,
        case.audio_sigmas,
        case.audio_sigma,
        perturbations,
    )


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


def assert_matches(label: str, *pairs: tuple[torch.Tensor, torch.Tensor]) -> None:
    diffs = [max_diff(ours_, theirs_) for ours_, theirs_ in pairs]
    print(f"{label}: max difference " + ", ".join(f"{d:.1e}" for d in diffs))
    assert max(diffs) < EXACT


def test_the_rename_map_loads_every_key_strictly_in_both_directions(twins) -> None:
    official = twins.official.state_dict()
    ours_sd = twins.diffusers.state_dict()
    assert {to_official(k) for k in ours_sd} == set(official)
    assert {to_diffusers(k) for k in official} == set(ours_sd)
    back = seeded_diffusers_transformer(CONFIG, seed=99)  # other weights, then the official ones loaded back
    result = back.load_state_dict({to_diffusers(k): v for k, v in official.items()}, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert all(torch.equal(back.state_dict()[k], v) for k, v in ours_sd.items())
    renamed = [k for k in ours_sd if to_official(k) != k]
    assert len(renamed) == 52 + 2 * 14 and len(DIFFUSERS_TO_OFFICIAL) == 14  # top level + 2 blocks


def test_velocity_with_clean_suffixes_and_independent_sigmas_matches_the_official_model(twins, case: Case) -> None:
    v, a = ours(twins, case)
    ov, oa = theirs(twins.official, case)
    assert_matches("suffixes + independent sigmas (video, audio)", (v, ov), (a, oa))
    assert float(v.abs().max()) > 1.0 and float(a.abs().max()) > 1.0  # a real signal, not zeros on both sides
    # Sensitive controls: diffusers' built-in cross-timestep variants and unscaled sigmas are visibly different.
    for variant in ("own", "other"):
        vv, va = ours(twins, case, cross_timestep=variant)
        print(f"control: diffusers' {variant!r} variant differs by {max(max_diff(vv, ov), max_diff(va, oa)):.1e}")
        assert max(max_diff(vv, ov), max_diff(va, oa)) > 1e-3, variant
    with torch.no_grad():
        s = 1 / 1000  # sigmas the transformer would see without the x1000
        uv, _ = predict_velocity(
            twins.diffusers,
            case.video,
            case.video_sigmas * s,
            case.sigma * s,
            case.text,
            case.geometry,
            case.audio,
            case.audio_sigmas * s,
            case.audio_sigma * s,
        )
    print(f"control: unscaled sigmas differ by {max_diff(uv, ov):.1e}")
    assert max_diff(uv, ov) > 1e-2


def test_unpatched_ltx_core_1_0_equals_diffusers_use_cross_timestep_true(twins, case: Case) -> None:
    v, a = ours(twins, case, cross_timestep="other")
    ov, oa = theirs(twins.official_1_0, case)
    assert_matches("unpatched 1.0.0 vs use_cross_timestep=True (video, audio)", (v, ov), (a, oa))
    newer_v, _ = theirs(twins.official, case)
    assert max_diff(newer_v, ov) > 1e-3  # the 1.1.4 change matters on exactly these inputs


def test_video_only_matches_the_official_call_without_audio(twins, case: Case) -> None:
    with torch.no_grad():
        v, a = predict_velocity(twins.diffusers, case.video, case.video_sigmas, case.sigma, case.text, case.geometry)
    ov, oa = official_velocity(twins.official, case.video, case.video_sigmas, case.sigma, case.text, case.geometry)
    assert a is None and oa is None
    assert_matches("video-only", (v, ov))
    with_audio, _ = ours(twins, case)
    assert max_diff(with_audio, ov) > 1e-3  # audio does reach video when it is there


@pytest.mark.parametrize("block", [0, 1])
def test_stg_on_one_block_matches_the_official_self_attention_skip(twins, case: Case, block: int) -> None:
    # Row 0 plain, row 1 with video and audio self-attention skipped in `block` (diffusers skips both together).
    v, a = ours(twins, case, stg_blocks=[block], perturbation_mask=torch.tensor([1.0, 0.0]))
    skip = PerturbationConfig(
        [
            Perturbation(PerturbationType.SKIP_VIDEO_SELF_ATTN, [block]),
            Perturbation(PerturbationType.SKIP_AUDIO_SELF_ATTN, [block]),
        ]
    )
    ov, oa = theirs(twins.official, case, BatchedPerturbationConfig([PerturbationConfig.empty(), skip]))
    assert_matches(f"STG on block {block} (video, audio)", (v, ov), (a, oa))
    plain_v, plain_a = ours(twins, case)
    assert max_diff(v[0], plain_v[0]) == 0.0  # the unperturbed row is untouched
    assert max_diff(v[1], plain_v[1]) > 1e-3 and max_diff(a[1], plain_a[1]) > 1e-3


def test_modality_isolation_matches_the_official_cross_attention_skip(twins, case: Case) -> None:
    v, a = ours(twins, case, isolate_modalities=True)
    both = PerturbationConfig(
        [
            Perturbation(PerturbationType.SKIP_A2V_CROSS_ATTN, None),
            Perturbation(PerturbationType.SKIP_V2A_CROSS_ATTN, None),
        ]
    )
    ov, oa = theirs(twins.official, case, BatchedPerturbationConfig([both, both]))
    assert_matches("modality isolation (video, audio)", (v, ov), (a, oa))
    plain_v, _ = ours(twins, case)
    assert max_diff(v, plain_v) > 1e-3
