"""The validation reel on the tiny preset: one labelled mp4 holding every entry, a report, previews per step."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from ltxcore.errors import RequestRejected
from ltxcore.job.plan import extend_settings
from ltxcore.job.request import parse_request
from ltxcore.job.settings import JobSettings
from ltxcore.manifests import ValidationClip
from ltxcore.media.probe import probe
from ltxcore.media.synth import moving_square_clip
from ltxcore.model.spec import ModelSpec
from ltxcore.sample.extend import ExtendSettings
from ltxcore.sample.reel import render_validation
from tests.support.clips import frame_count, stream_info

FPS = 24


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelSpec]:
    torch.set_num_threads(2)
    yield ModelSpec.parse("tiny")


def validation_clip(path: Path, index: int, seconds: float, colour: str) -> ValidationClip:
    moving_square_clip(
        path,
        seconds=seconds,
        fps=FPS,
        size=(96, 64),
        colour=colour,
        tone_hz=300 + 100 * index,
        start=(0, 10),
        velocity=(25, 5),
        audio=True,
    )
    return ValidationClip(
        index=index, url=f"file://{path}", path=str(path), prompt=f"a {colour} square", probe=probe(path)
    )


def test_two_entries_make_one_labelled_reel_with_audio_and_a_report(spec: ModelSpec, tmp_path: Path) -> None:
    clips = [validation_clip(tmp_path / "a.mp4", 0, 1.0, "red"), validation_clip(tmp_path / "b.mp4", 1, 0.5, "cyan")]
    settings = ExtendSettings(
        num_frames=17, fps=FPS, width=64, height=64, conditioning_frames=8, with_audio=True, steps=2
    )
    reel = render_validation(clips, None, settings, tmp_path / "val", spec=spec, step_label="step-000050")

    assert Path(reel.video_path).name == "reel-step-000050.mp4"
    assert frame_count(Path(reel.video_path)) == 34 == reel.num_frames
    info = stream_info(Path(reel.video_path))
    streams = {s["codec_type"]: s for s in info["streams"]}
    assert sorted(s["codec_type"] for s in info["streams"]) == ["audio", "video"]
    assert float(streams["video"]["duration"]) == pytest.approx(34 / FPS, abs=1e-3)
    assert abs(float(streams["audio"]["duration"]) - 34 / FPS) <= 1 / FPS
    assert int(streams["video"]["width"]) >= 384  # small previews are scaled up so the labels can be read

    report = json.loads(Path(reel.report_json).read_text())
    assert [e["index"] for e in report["entries"]] == [0, 1]
    assert all(e["seam"]["ratio"] > 0 for e in report["entries"])
    assert "| 1 | a cyan square |" in Path(reel.report_md).read_text()
    for entry in reel.entries:
        assert frame_count(Path(entry.video_path)) == 17


def test_previews_are_kept_per_step_and_video_only_reels_are_silent(spec: ModelSpec, tmp_path: Path) -> None:
    clip = [validation_clip(tmp_path / "a.mp4", 0, 1.0, "yellow")]
    settings = ExtendSettings(
        num_frames=17, fps=FPS, width=64, height=64, conditioning_frames=8, steps=2, cfg=1.0, stg_scale=0.0
    )
    for label in ("step-000010", "final"):
        render_validation(clip, None, settings, tmp_path / "val", spec=spec, step_label=label)
    reels = sorted(p.name for p in (tmp_path / "val").glob("reel-*.mp4"))
    assert reels == ["reel-final.mp4", "reel-step-000010.mp4"]
    assert [s["codec_type"] for s in stream_info(tmp_path / "val" / "reel-final.mp4")["streams"]] == ["video"]


def test_request_settings_and_a_too_short_clip_give_the_contract_422(tmp_path: Path) -> None:
    request = parse_request(
        {
            "training_data_url": "https://example.com/d.zip",
            "conditioning_frames": 16,
            "validation_number_of_frames": 40,
            "validation_frame_rate": 12,
            "validation_resolution": "low",
            "validation_aspect_ratio": "16:9",
            "stg_scale": 0.0,
        }
    )
    settings = extend_settings(request, JobSettings(work_root=str(tmp_path)))
    ok = validation_clip(tmp_path / "ok.mp4", 0, 2.0, "red")
    short = validation_clip(tmp_path / "short.mp4", 1, 1.25, "blue")  # 15 frames at 12 fps < 16
    with pytest.raises(RequestRejected) as err:
        render_validation([ok, short], None, settings, tmp_path / "val", spec=None)  # refused before loading a model
    assert err.value.body() == {
        "status": 422,
        "detail": [
            {
                "loc": ["body", "validation", 1, "video_url"],
                "type": "too_short",
                "msg": "the video gives 15 frames at 12 fps (1.25 s); at least conditioning_frames = 16 are needed "
                "to form the clean suffix",
            }
        ],
    }


def test_a_reel_from_the_latent_caches_prompts_needs_no_text_encoder_and_matches(
    spec: ModelSpec, tmp_path: Path
) -> None:
    from ltxcore.manifests import DatasetManifest, FittedClip
    from ltxcore.model.cache import cached_text, encode_dataset
    from ltxcore.model.loader import load_components
    from ltxcore.sample.extend import encode_text, sample_parts
    from ltxcore.sample.reel import cached_validation_texts

    clip = validation_clip(tmp_path / "a.mp4", 0, 1.0, "red")
    settings = ExtendSettings(num_frames=17, fps=FPS, width=64, height=64, conditioning_frames=8, steps=2)
    validation_clip(tmp_path / "t.mp4", 1, 17 / FPS, "blue")  # a 17-frame training clip; only its prompt matters here
    train_clip = FittedClip(
        id="c0",
        source_id="s0",
        rel_path="t.mp4",
        video_path=str(tmp_path / "t.mp4"),
        caption="sks a square",
        num_frames=17,
        fps=FPS,
        width=64,
        height=64,
        source_start=0.0,
        source_end=17 / FPS,
    )
    manifest = DatasetManifest(
        clips=[train_clip], num_frames=17, fps=FPS, width=64, height=64, conditioning_frames=8, with_audio=False
    )
    cache = encode_dataset(
        manifest, spec, tmp_path / "store", negative_prompt=settings.negative_prompt, extra_prompts=[clip.prompt]
    )
    texts = cached_validation_texts(cache, [clip], settings.negative_prompt)
    assert texts is not None and texts[0].video.shape == (2, 128, 32)
    assert cached_text(cache, ["a prompt nobody encoded"]) is None
    assert cached_validation_texts(cache, [clip.model_copy(update={"prompt": "another"})], "") is None

    encoded = encode_text(load_components(spec, sample_parts(False)), clip.prompt, settings.negative_prompt)
    assert torch.allclose(texts[0].video, encoded.video, atol=1e-5)  # the cache holds what the encoder gives
    assert torch.equal(texts[0].mask, encoded.mask)

    without = load_components(spec, sample_parts(False, with_text=False))
    from_cache = render_validation([clip], None, settings, tmp_path / "cached", components=without, texts=texts)
    assert "text_encoder" not in without.parts and without.loaded() == ["scheduler", "transformer", "vae"]
    from_encoder = render_validation([clip], None, settings, tmp_path / "encoded", spec=spec)
    assert from_cache.entries[0].seam.ratio == pytest.approx(from_encoder.entries[0].seam.ratio, rel=1e-3)
