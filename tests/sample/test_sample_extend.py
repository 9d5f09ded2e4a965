"""Backward extension on the tiny preset: frame counts, the clean suffix, audio in sync, STG, LoRA files, the 422."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from ltxcore.errors import RequestRejected
from ltxcore.media.synth import moving_square_clip
from ltxcore.model.encode import encode_video
from ltxcore.model.encoder_inputs import read_video_frames
from ltxcore.model.forward import TextBatch, VideoGeometry
from ltxcore.model.loader import Components, load_components
from ltxcore.model.lora import attach_lora, save_lora
from ltxcore.model.spec import ModelSpec
from ltxcore.sample.closing import fit_closing
from ltxcore.sample.decode import decode_video
from ltxcore.sample.extend import ExtendSettings, extend_in_memory, extend_video, sample_parts, write_extension
from ltxcore.sample.guidance import Guidance
from ltxcore.sample.sampler import place_audio_suffix, place_video_suffix, sample
from tests.support.clips import frame_count, stream_info

FPS = 24
SETTINGS = ExtendSettings(num_frames=17, fps=FPS, width=64, height=64, conditioning_frames=8, steps=2, seed=7)


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelSpec]:
    spec = ModelSpec.parse("tiny")
    spec.local_dir()
    yield spec


@pytest.fixture(scope="module")
def components(spec: ModelSpec) -> Components:
    torch.set_num_threads(2)
    return load_components(spec, sample_parts(with_audio=True))


@pytest.fixture(scope="module")
def closing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clip no test trained on: a white square gliding right with a tone, 1 s (24 frames), 80x64."""
    out = tmp_path_factory.mktemp("closing") / "closing.mp4"
    return moving_square_clip(
        out,
        seconds=1.0,
        fps=FPS,
        size=(80, 64),
        colour="white",
        tone_hz=500,
        start=(4, 20),
        velocity=(30, 0),
        audio=True,
    )


def test_extension_has_the_target_frames_and_ends_in_the_clips_vae_reconstruction(
    components: Components, closing: Path, tmp_path: Path
) -> None:
    ext = extend_in_memory(components, closing, "a white square", SETTINGS)
    fitted = fit_closing(
        closing, tmp_path, num_frames=17, fps=FPS, width=64, height=64, conditioning_frames=8, with_audio=False
    )
    assert fitted.frames.shape == (17, 64, 64, 3)  # the clip's last 17 frames, fitted to the bucket
    reconstruction = decode_video(components, encode_video(components, fitted.frames)[None])  # [17, 64, 64, 3]
    assert ext.frames.shape == (17, 64, 64, 3)
    assert np.array_equal(ext.frames[-8:], reconstruction[-8:])
    assert not np.array_equal(ext.frames[:9], reconstruction[:9])  # the lead-in is generated, not copied

    result = write_extension(ext, SETTINGS, tmp_path / "out.mp4")
    assert frame_count(tmp_path / "out.mp4") == 17 == result.num_frames
    assert [s["codec_type"] for s in stream_info(tmp_path / "out.mp4")["streams"]] == ["video"]
    # The tiny VAE decodes to pixel noise, which 4:2:0 H.264 cannot keep pixel by pixel: compare 8x8 block means.
    written = read_video_frames(tmp_path / "out.mp4")
    assert np.abs(blocks(written[-8:]) - blocks(reconstruction[-8:])).max() < 6.0
    assert np.abs(blocks(written[:9]) - blocks(reconstruction[:9])).max() > 20.0  # while the lead-in is different
    assert result.lead_in_frames == 9 and 0 < result.seam.ratio < 50


def blocks(frames: np.ndarray) -> np.ndarray:
    """uint8 [F, H, W, 3] -> float [F, H/8, W/8, 3] means of 8x8 blocks."""
    f, h, w, c = frames.shape
    return frames.astype(np.float32).reshape(f, h // 8, 8, w // 8, 8, c).mean(axis=(2, 4))


def test_with_audio_the_chained_mp4_carries_audio_as_long_as_the_video(
    components: Components, closing: Path, tmp_path: Path
) -> None:
    settings = SETTINGS.model_copy(update={"with_audio": True, "seed": 42})
    result = extend_video(components, closing, "a white square", settings, tmp_path / "av.mp4", repeat=2)
    assert result.num_frames == 17 + 9 == frame_count(tmp_path / "av.mp4")
    streams = {s["codec_type"]: s for s in stream_info(tmp_path / "av.mp4")["streams"]}
    assert set(streams) == {"video", "audio"} and result.has_audio and len(result.seams) == 2
    video_s, audio_s = float(streams["video"]["duration"]), float(streams["audio"]["duration"])
    assert video_s == pytest.approx(26 / FPS, abs=1e-3)
    assert abs(audio_s - video_s) <= 1 / FPS


def text_rows(seed: int = 0) -> TextBatch:
    g = torch.Generator().manual_seed(seed)
    return TextBatch(
        video=torch.randn(2, 128, 32, generator=g),
        audio=torch.randn(2, 128, 16, generator=g),
        mask=torch.ones(2, 128, dtype=torch.int64),
    )


@torch.no_grad()
def test_suffix_stays_exact_and_stg_changes_the_lead_in(components: Components) -> None:
    g = torch.Generator().manual_seed(1)
    video = place_video_suffix(torch.randn(128, 1, 2, 2, generator=g), latent_frames=3)  # 64x64x17, 4 clean tokens
    audio = place_audio_suffix(torch.randn(8, 8, 16, generator=g), steps=18, device=torch.device("cpu"))
    geo = VideoGeometry(frames=3, height=2, width=2, fps=FPS)

    def run(stg: float) -> tuple[torch.Tensor, torch.Tensor]:
        out = sample(
            components.transformer,
            components.scheduler,
            text_rows(),
            geo,
            video,
            audio,
            Guidance(stg_scale=stg),
            steps=2,
            generator=torch.Generator().manual_seed(3),
        )
        return out[0], out[1]

    (v0, a0), (v1, a1) = run(0.0), run(1.0)
    for v, a in ((v0, a0), (v1, a1)):
        assert torch.equal(v[:, -4:], video.clean[:, -4:]) and torch.equal(a[:, -8:], audio.clean[:, -8:])
    assert (v1[:, :-4] - v0[:, :-4]).abs().max() > 1e-2  # STG acts (the tiny model has perturbed attention)
    assert (a1[:, :-8] - a0[:, :-8]).abs().max() > 1e-2


@torch.no_grad()
def test_modality_guidance_runs_an_isolated_pass_only_when_audio_is_generated(components: Components) -> None:
    g = torch.Generator().manual_seed(1)
    video = place_video_suffix(torch.randn(128, 1, 2, 2, generator=g), latent_frames=3)
    audio = place_audio_suffix(torch.randn(8, 8, 16, generator=g), steps=18, device=torch.device("cpu"))
    geo = VideoGeometry(frames=3, height=2, width=2, fps=FPS)
    calls: list[tuple[int, bool]] = []  # (batch rows, isolate_modalities) of each transformer call

    def spy(_module: torch.nn.Module, _args: tuple, kwargs: dict) -> None:
        calls.append((kwargs["hidden_states"].shape[0], kwargs["isolate_modalities"]))

    def run(modality: float, with_audio: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        out = sample(
            components.transformer,
            components.scheduler,
            text_rows(),
            geo,
            video,
            audio if with_audio else None,
            Guidance(modality=modality),
            steps=2,
            generator=torch.Generator().manual_seed(3),
        )
        return out[0], out[1]

    handle = components.transformer.register_forward_pre_hook(spy, with_kwargs=True)
    try:
        v_off, a_off = run(1.0, with_audio=True)
        assert calls == [(3, False)] * 2  # cond, uncond, stg in one call per step
        calls.clear()
        v_on, a_on = run(3.0, with_audio=True)
        assert calls == [(3, False), (1, True)] * 2  # plus the cond row with audio<->video attention off
        calls.clear()
        run(3.0, with_audio=False)
        # No audio: nothing to isolate from, so no extra pass (a video-only call always runs isolated, against a
        # placeholder audio token).
        assert calls == [(3, True)] * 2
    finally:
        handle.remove()
    assert torch.equal(v_on[:, -4:], video.clean[:, -4:]) and torch.equal(a_on[:, -8:], audio.clean[:, -8:])
    assert (v_on[:, :-4] - v_off[:, :-4]).abs().max() > 1e-3  # the term acts on both modalities
    assert (a_on[:, :-8] - a_off[:, :-8]).abs().max() > 1e-3


def test_a_lora_file_from_the_model_layer_drives_the_extension(
    spec: ModelSpec, components: Components, closing: Path, tmp_path: Path
) -> None:
    trained = load_components(spec, {"transformer"}).transformer
    attach_lora(trained, rank=4)
    g = torch.Generator().manual_seed(5)
    for name, p in trained.named_parameters():
        if "lora_B" in name:
            p.data = torch.randn(p.shape, generator=g) * 0.5  # a LoRA that changes the model noticeably
    lora = save_lora(trained, tmp_path / "lora.safetensors")

    settings = SETTINGS.model_copy(update={"cfg": 1.0, "stg_scale": 0.0})
    fresh = load_components(spec, sample_parts(with_audio=False))
    base = extend_in_memory(fresh, closing, "a white square", settings)
    adapted = extend_in_memory(fresh, closing, "a white square", settings, lora_path=lora)
    lead_change = np.abs(adapted.frames[:9].astype(int) - base.frames[:9].astype(int)).max()
    assert lead_change > 10
    assert np.array_equal(adapted.frames[-8:], base.frames[-8:])  # the closing frames are the clip's own


def test_a_clip_shorter_than_the_suffix_is_the_contract_422(closing: Path, tmp_path: Path) -> None:
    short = moving_square_clip(
        tmp_path / "short.mp4",
        seconds=7 / FPS,
        fps=FPS,
        size=(64, 64),
        colour="red",
        tone_hz=440,
        start=(0, 0),
        velocity=(10, 0),
        audio=False,
    )
    with pytest.raises(RequestRejected) as err:
        fit_closing(
            short,
            tmp_path,
            num_frames=17,
            fps=FPS,
            width=64,
            height=64,
            conditioning_frames=8,
            with_audio=False,
            loc=("body", "validation", 1, "video_url"),
        )
    (detail,) = err.value.body()["detail"]
    assert detail["loc"] == ["body", "validation", 1, "video_url"] and detail["type"] == "too_short"
    assert err.value.status == 422


def test_a_clip_of_exactly_the_suffix_length_is_led_by_a_repeated_frame(tmp_path: Path) -> None:
    exact = moving_square_clip(
        tmp_path / "exact.mp4",
        seconds=8 / FPS,
        fps=FPS,
        size=(64, 64),
        colour="red",
        tone_hz=440,
        start=(0, 0),
        velocity=(40, 0),
        audio=True,
    )
    fitted = fit_closing(
        exact, tmp_path, num_frames=17, fps=FPS, width=64, height=64, conditioning_frames=8, with_audio=True
    )
    assert fitted.frames.shape[0] == 9 and np.array_equal(fitted.frames[0], fitted.frames[1])
    import soundfile

    assert soundfile.info(str(fitted.wav)).frames == round(16_000 * 9 / FPS)


def test_the_extend_command_takes_the_suffix_length_from_the_lora_file(
    spec: ModelSpec, closing: Path, tmp_path: Path
) -> None:
    from ltxcore.sample.command import ExtendOptions, extend_command
    from ltxcore.train.adapters import lora_parameters, save_lora_file

    trained = load_components(spec, {"transformer"}).transformer
    attach_lora(trained, rank=2)
    lora = tmp_path / "lora.safetensors"
    save_lora_file(
        lora, trained, lora_parameters(trained, with_audio=False), {"conditioning_frames": 16, "with_audio": False}
    )
    options = ExtendOptions(frames=20, resolution="low", aspect="9:16", steps=2, cfg=1.0, stg_scale=0.0)
    result = extend_command(lora, closing, "a white square", tmp_path / "cli.mp4", options, model=str(spec.local_dir()))
    assert (result.num_frames, result.conditioning_frames, result.lead_in_frames) == (17, 16, 1)
    assert (result.width, result.height, result.has_audio) == (288, 512, False)
    assert frame_count(tmp_path / "cli.mp4") == 17
