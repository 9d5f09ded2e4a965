"""Encoders and the latent cache on the tiny preset: causal geometry, whole-clip suffixes, audio steps, caching."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import soundfile
import torch

from ltxcore.manifests import DatasetManifest, FittedClip
from ltxcore.media.ffmpeg_bin import ffmpeg
from ltxcore.model import cache as cache_mod
from ltxcore.model.cache import encode_dataset
from ltxcore.model.encode import cut_audio_suffix, cut_video_suffix, encode_audio, encode_video
from ltxcore.model.encoder_inputs import log_mel, read_video_frames
from ltxcore.model.forward import normalise_video
from ltxcore.model.loader import Components, load_components
from ltxcore.model.spec import ModelSpec

FPS = 24.0


@pytest.fixture(scope="module")
def components(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Components]:
    yield load_components(ModelSpec.parse("tiny"), {"vae", "audio_vae", "text_encoder", "tokenizer", "connectors"})


def make_clip(path: Path, frames: int = 25, source: str = "testsrc2") -> Path:
    subprocess.run(
        [
            ffmpeg(),
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"{source}=size=64x64:rate={FPS:g}",
            "-frames:v",
            str(frames),
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
    )
    return path


def make_wav(path: Path, seconds: float, freq: float = 440.0, channels: int = 2) -> Path:
    t = np.arange(round(seconds * 16000)) / 16000
    tone = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    soundfile.write(path, np.stack([tone] * channels, axis=1), 16000, subtype="FLOAT")
    return path


def test_changing_the_last_eight_frames_changes_only_the_last_latent(components: Components) -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (25, 64, 64, 3), dtype=np.uint8)
    edited = frames.copy()
    edited[17:25] = 255 - edited[17:25]  # pixel frames 8j-7 .. 8j for j = 3
    base, changed = encode_video(components, frames), encode_video(components, edited)  # [128, 4, 2, 2]
    diff = (base - changed).abs().amax(dim=(0, 2, 3))  # per latent frame
    assert diff[:3].tolist() == [0.0, 0.0, 0.0] and diff[3] > 1e-3
    edited = frames.copy()
    edited[9:17] = 0  # latent frame 2: earlier latents never see it (causal)
    diff = (base - encode_video(components, edited)).abs().amax(dim=(0, 2, 3))
    assert diff[:2].tolist() == [0.0, 0.0] and diff[2] > 1e-3


def test_suffix_is_cut_from_the_whole_clip_not_encoded_alone(components: Components) -> None:
    frames = np.random.default_rng(1).integers(0, 256, (25, 64, 64, 3), dtype=np.uint8)
    whole = cut_video_suffix(encode_video(components, frames), conditioning_frames=16)  # [128, 2, 2, 2]
    alone = cut_video_suffix(encode_video(components, frames[-17:]), conditioning_frames=16)
    assert whole.shape == alone.shape == (128, 2, 2, 2)
    assert (whole - alone).abs().max() > 1e-2


def test_video_latents_are_the_normalised_posterior_mode(components: Components, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4")
    frames = read_video_frames(clip)
    assert frames.shape == (25, 64, 64, 3)
    latents = encode_video(components, clip)
    x = torch.from_numpy(frames).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
    mode = components.vae.encode(x).latent_dist.mode()
    assert torch.allclose(latents, normalise_video(mode, components.vae)[0], atol=1e-5)
    assert not torch.allclose(latents, mode[0], atol=1e-2)  # the statistics were applied
    batch = encode_video(components, [clip, frames])  # a batch gives the same per-clip latents
    assert torch.allclose(batch[0], latents, atol=1e-5) and torch.allclose(batch[1], latents, atol=1e-5)


@pytest.mark.parametrize(("seconds", "steps"), [(25 / 24, 26), (1.0, 25), (17 / 8, 53)])
def test_audio_latents_have_round_25_steps_per_second(
    components: Components, tmp_path: Path, seconds: float, steps: int
) -> None:
    wav = make_wav(tmp_path / "a.wav", seconds + 0.5)  # longer files are cut to the clip's duration
    latents = encode_audio(components, wav, seconds)
    assert latents.shape == (8, steps, 16)
    assert torch.isfinite(latents).all()


def test_log_mel_has_100_frames_per_second_and_mono_is_duplicated(components: Components, tmp_path: Path) -> None:
    assert log_mel(torch.zeros(1, 2, 16000)).shape == (1, 2, 101, 64)
    stereo = encode_audio(components, make_wav(tmp_path / "s.wav", 1.0), 1.0)
    mono = encode_audio(components, make_wav(tmp_path / "m.wav", 1.0, channels=1), 1.0)
    assert torch.allclose(stereo, mono, atol=1e-5)


def test_audio_suffix_is_cut_from_the_whole_clip(components: Components, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    soundfile.write(tmp_path / "n.wav", rng.normal(0, 0.2, (25 * 16000 // 24, 2)).astype(np.float32), 16000)
    whole = cut_audio_suffix(encode_audio(components, tmp_path / "n.wav", 25 / 24), 16, FPS)  # last 17 steps
    data, _ = soundfile.read(tmp_path / "n.wav", dtype="float32")
    soundfile.write(tmp_path / "tail.wav", data[-round(16 / FPS * 16000) :], 16000)  # the closing 16 frames alone
    alone = encode_audio(components, tmp_path / "tail.wav", 16 / FPS)
    assert whole.shape == alone.shape == (8, 17, 16)
    assert (whole - alone).abs().max() > 1e-2


def _dataset(tmp_path: Path, with_audio: bool) -> DatasetManifest:
    clips = []
    for i, (source, caption) in enumerate(
        [("testsrc2", "sks a cat walks"), ("smptebars", "sks a cat walks"), ("rgbtestsrc", "sks the city at night")]
    ):
        video = make_clip(tmp_path / f"v{i}.mp4", source=source)
        audio = str(make_wav(tmp_path / f"a{i}.wav", 25 / FPS, freq=220.0 * (i + 1))) if with_audio else None
        clips.append(
            FittedClip(
                id=f"clip{i}",
                source_id=f"s{i}",
                rel_path=f"v{i}.mp4",
                video_path=str(video),
                audio_path=audio,
                caption=caption,
                num_frames=25,
                fps=FPS,
                width=64,
                height=64,
                source_start=0.0,
                source_end=25 / FPS,
            )
        )
    return DatasetManifest(
        clips=clips, num_frames=25, fps=FPS, width=64, height=64, conditioning_frames=16, with_audio=with_audio
    )


def test_encode_dataset_writes_one_file_per_clip_and_per_unique_prompt(
    components: Components, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = _dataset(tmp_path, with_audio=True)
    spec = ModelSpec.parse("tiny")
    cache = encode_dataset(manifest, spec, tmp_path / "store", memory_budget_bytes=1)  # budget 1 B: batches of one
    assert len(cache.clips) == 3 and cache.model_fingerprint == spec.fingerprint()
    assert len(cache.texts) == 4  # two distinct captions, the negative prompt and ""
    assert set(cache.prompts) >= {"", "sks a cat walks", "sks the city at night", cache.negative_prompt}
    assert cache.clips[0].text_key == cache.clips[1].text_key != cache.clips[2].text_key
    assert cache.shapes["video_latents"] == [128, 4, 2, 2] and cache.shapes["audio_latents"] == [8, 26, 16]
    assert cache.shapes["video_prompt_embeds"] == [128, 32] and cache.shapes["audio_prompt_embeds"] == [128, 16]
    assert cache.dtypes["video_latents"] == "float32"
    assert (cache.suffix_latent_frames, cache.audio_suffix_steps) == (2, 17)
    stored = safetensors.torch.load_file(cache.clips[0].path)
    assert torch.allclose(stored["video_latents"], encode_video(components, manifest.clips[0].video_path), atol=1e-5)
    assert Path(cache.root).name in cache.clips[0].path

    def fail(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a finished stage must not encode again")

    monkeypatch.setattr(cache_mod, "load_components", fail)
    assert encode_dataset(manifest, spec, tmp_path / "store", memory_budget_bytes=1) == cache


def test_encode_dataset_batches_by_budget_and_skips_audio_when_off(components: Components, tmp_path: Path) -> None:
    manifest = _dataset(tmp_path, with_audio=False)
    small = encode_dataset(manifest, ModelSpec.parse("tiny"), tmp_path / "a", memory_budget_bytes=1)
    large = encode_dataset(manifest, ModelSpec.parse("tiny"), tmp_path / "b", memory_budget_bytes=1 << 34)
    assert "audio_latents" not in small.shapes
    for a, b in zip(small.clips, large.clips, strict=True):
        assert torch.allclose(
            safetensors.torch.load_file(a.path)["video_latents"],
            safetensors.torch.load_file(b.path)["video_latents"],
            atol=1e-5,
        )
