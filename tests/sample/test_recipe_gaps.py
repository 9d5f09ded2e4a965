"""The recipe gaps the official-implementation comparison showed: a silent closing clip for an audio
extension, the negative prompt's audio terms, distilled schedules and timestep-conditioned VAE decoding. (Custom LoRA
targets under diffusers-only names: tests/parity/test_lora.py, against the official loader.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from diffusers import FlowMatchEulerDiscreteScheduler
from typer.testing import CliRunner

from cli.main import app
from ltxcore.errors import RequestRejected
from ltxcore.job.request import ExtendSuffixRequest
from ltxcore.media.synth import moving_square_clip
from ltxcore.model.forward import TextBatch, VideoGeometry, denormalise_video, pack_video, unpack_video
from ltxcore.model.loader import PARTS, Components
from ltxcore.model.spec import ModelSpec
from ltxcore.model.tiny import SCHEDULER, tiny_video_vae
from ltxcore.prompts import DEFAULT_NEGATIVE_PROMPT
from ltxcore.sample.decode import decode_video
from ltxcore.sample.extend import ExtendSettings, extend_in_memory
from ltxcore.sample.guidance import Guidance
from ltxcore.sample.sampler import place_video_suffix, sample
from ltxcore.sample.schedule import is_distilled, ltx2_scheduler
from ltxcore.train.adapters import METADATA_KEY
from tests.support.oracle_standin import ExactVelocity, Targets

FPS = 24
SETTINGS = ExtendSettings(num_frames=17, fps=FPS, width=64, height=64, conditioning_frames=8, with_audio=True, steps=2)


def unloaded_components(root: Path) -> Components:
    """Components that would load lazily from an empty directory: any model work would fail loudly."""
    return Components(
        spec=ModelSpec.parse("tiny"), root=root, parts=frozenset(PARTS), device=torch.device("cpu"), dtype=torch.float32
    )


# --- 1. a silent closing clip for an audio extension: the contract's 422, before any model work ---------------------


def _clip(path: Path, seconds: float, audio: bool) -> Path:
    return moving_square_clip(
        path,
        seconds=seconds,
        fps=FPS,
        size=(64, 64),
        colour="white",
        tone_hz=440,
        start=(0, 20),
        velocity=(30, 0),
        audio=audio,
    )


def test_a_silent_closing_clip_is_refused_for_an_audio_extension(tmp_path: Path) -> None:
    silent = _clip(tmp_path / "silent.mp4", 1.0, audio=False)
    components = unloaded_components(tmp_path / "no-model")
    with pytest.raises(RequestRejected) as err:
        extend_in_memory(components, silent, "a white square", SETTINGS)
    (detail,) = err.value.body()["detail"]
    assert (detail["loc"], detail["type"], err.value.status) == (["video"], "missing_audio", 422)
    assert "no audio track" in detail["msg"] and "--without-audio" in detail["msg"]
    assert components.loaded() == []  # refused before any part was loaded
    # Too short AND silent: both mistakes in one answer.
    short = _clip(tmp_path / "short.mp4", 5 / FPS, audio=False)
    with pytest.raises(RequestRejected) as both:
        extend_in_memory(components, short, "a white square", SETTINGS)
    assert sorted(d["type"] for d in both.value.body()["detail"]) == ["missing_audio", "too_short"]


def test_the_extend_command_answers_422_for_a_silent_clip_under_an_audio_lora(tmp_path: Path) -> None:
    silent = _clip(tmp_path / "silent.mp4", 1.0, audio=False)
    lora = tmp_path / "lora.safetensors"  # what the training stage records: trained with audio
    safetensors.torch.save_file(
        {"diffusion_model.x.lora_A.weight": torch.zeros(1, 1)},
        str(lora),
        metadata={METADATA_KEY: json.dumps({"with_audio": True, "conditioning_frames": 8})},
    )
    args = [
        "extend",
        "--lora",
        str(lora),
        "--video",
        str(silent),
        "--prompt",
        "a white square",
        "--output",
        str(tmp_path / "out.mp4"),
        "--frames",
        "17",
        "--steps",
        "2",
        "--bucket",
        "64x64",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    body = json.loads(result.stdout)
    assert body["status"] == 422 and body["detail"][0]["type"] == "missing_audio"
    assert not (tmp_path / "out.mp4").exists()


# --- 2. the built-in negative prompt covers both modalities ----------------------------------------------------------


def test_the_built_in_negative_prompt_names_audio_faults_as_well_as_visual_ones() -> None:
    terms = [t.strip() for t in DEFAULT_NEGATIVE_PROMPT.split(",")]
    audio = [t for t in terms if any(w in t for w in ("audio", "voice", "sound", "lip sync", "speech", "dialogue"))]
    assert {"silent or muted audio", "distorted voice", "off-sync audio", "mismatched lip sync"} <= set(terms)
    assert len(audio) >= 8 and len(terms) - len(audio) >= 20  # both modalities, neither an afterthought
    assert (
        ExtendSuffixRequest(training_data_url="https://h/a.zip").validation_negative_prompt == DEFAULT_NEGATIVE_PROMPT
    )
    assert SETTINGS.negative_prompt == DEFAULT_NEGATIVE_PROMPT


# --- 3. distilled weights: the official fixed sigma list, or a clear refusal ------------------------------------------

# What diffusers' conversion writes for a distilled LTX-2.3 checkpoint: no dynamic shift, no terminal stretch.
DISTILLED_SCHEDULER = dict(
    use_dynamic_shifting=False,
    base_shift=0.95,
    max_shift=2.05,
    base_image_seq_len=1024,
    max_image_seq_len=4096,
    shift_terminal=None,
)
# ltx-pipelines `utils/constants.py` DISTILLED_SIGMA_VALUES (the official distilled schedule).
OFFICIAL_DISTILLED = [1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875, 0.0]


def test_a_distilled_scheduler_config_gets_the_official_distilled_sigmas() -> None:
    distilled = FlowMatchEulerDiscreteScheduler(**DISTILLED_SCHEDULER)
    assert is_distilled(distilled) and not is_distilled(FlowMatchEulerDiscreteScheduler(**SCHEDULER))
    sched = ltx2_scheduler(distilled, 8)
    assert sched.sigmas.tolist() == pytest.approx(OFFICIAL_DISTILLED, abs=1e-7) and len(sched.timesteps) == 8
    # What the dev-model arithmetic would have given this config: 8 linear steps, far from the distilled list.
    linear = np.linspace(1.0, 0.0, 9)
    assert max(abs(a - b) for a, b in zip(sched.sigmas.tolist(), linear, strict=True)) > 0.3
    with pytest.raises(RequestRejected) as err:
        ltx2_scheduler(distilled, 30)
    (detail,) = err.value.body()["detail"]
    assert detail["loc"] == ["steps"] and "steps must be 8 (got 30)" in detail["msg"]
    # A config without dynamic shift that would still bend the given sigmas is not a distilled one we can honour.
    with pytest.raises(ValueError, match="shift 1"):
        ltx2_scheduler(FlowMatchEulerDiscreteScheduler(**DISTILLED_SCHEDULER | {"shift": 3.0}), 8)


def test_sampling_on_the_distilled_schedule_recovers_the_clean_latents() -> None:
    geo = VideoGeometry(frames=3, height=2, width=2, fps=24.0)
    x0 = pack_video(torch.randn(1, 128, 3, 2, 2, generator=torch.Generator().manual_seed(0)))  # [1, 12, 128]
    placed = place_video_suffix(unpack_video(x0, 3, 2, 2)[0, :, -1:], 3)
    text = TextBatch(video=torch.zeros(2, 4, 32), audio=torch.zeros(2, 4, 16), mask=torch.ones(2, 4, dtype=torch.int64))
    seen: list[float] = []
    model = ExactVelocity(Targets(cond=x0))
    model.register_forward_pre_hook(
        lambda _m, _a, kw: seen.append(float(kw["timestep"].max()) / 1000), with_kwargs=True
    )
    out, _ = sample(
        model,
        FlowMatchEulerDiscreteScheduler(**DISTILLED_SCHEDULER),
        text,
        geo,
        placed,
        None,
        Guidance(cfg=1.0, audio_cfg=1.0, stg_scale=0.0, modality=1.0),
        steps=8,
        generator=torch.Generator().manual_seed(1),
    )
    assert seen == pytest.approx(OFFICIAL_DISTILLED[:-1], abs=1e-6)  # the transformer saw exactly those sigmas
    assert float((out - x0)[0, placed.generate[0]].abs().max()) < 1e-4


# --- 5. a timestep-conditioned VAE decodes with the official timestep and noise --------------------------------------


def _pixels(frames: torch.Tensor) -> np.ndarray:
    """[1, 3, F, H, W] in [-1, 1] -> uint8 [F, H, W, 3], as decode_video converts."""
    return ((frames[0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).numpy()


@torch.no_grad()
def test_a_timestep_conditioned_decoder_gets_timestep_0_05_and_2_5_percent_noise(tmp_path: Path) -> None:
    vae = tiny_video_vae(seed=1, timestep_conditioning=True)
    components = unloaded_components(tmp_path)
    components.provide("vae", vae)
    z = torch.randn(1, 128, 2, 2, 2, generator=torch.Generator().manual_seed(2))  # normalised latents
    frames = decode_video(components, z, seed=3)
    assert frames.shape == (9, 64, 64, 3) and np.array_equal(frames, decode_video(components, z, seed=3))
    noise = torch.randn(z.shape, generator=torch.Generator().manual_seed(3))
    official = _pixels(
        vae.decode(denormalise_video(0.975 * z + 0.025 * noise, vae), torch.tensor([0.05]), return_dict=False)[0]
    )
    assert np.array_equal(frames, official)
    # Both parts matter: the timestep (vs a clean-latent timestep 0) and the noise (vs none).
    at_zero = _pixels(vae.decode(denormalise_video(z, vae), torch.tensor([0.0]), return_dict=False)[0])
    no_noise = _pixels(vae.decode(denormalise_video(z, vae), torch.tensor([0.05]), return_dict=False)[0])
    change_t = int(np.abs(at_zero.astype(int) - no_noise.astype(int)).max())
    change_noise = int(np.abs(frames.astype(int) - no_noise.astype(int)).max())
    print(f"decode changes: timestep 0 -> 0.05: {change_t} levels; 2.5% noise: {change_noise} levels")
    assert change_t > 5 and change_noise > 0


@torch.no_grad()
def test_a_plain_decoder_decodes_as_before_without_noise(tmp_path: Path) -> None:
    vae = tiny_video_vae(seed=1)
    components = unloaded_components(tmp_path)
    components.provide("vae", vae)
    z = torch.randn(1, 128, 2, 2, 2, generator=torch.Generator().manual_seed(2))
    frames = decode_video(components, z, seed=3)
    assert np.array_equal(frames, _pixels(vae.decode(denormalise_video(z, vae), None, return_dict=False)[0]))
    assert np.array_equal(frames, decode_video(components, z, seed=4))  # no noise: the seed is irrelevant
