"""plan_job: the one place a request and the deployment settings become every stage's settings."""

from __future__ import annotations

import os

import pytest

from ltxcore.job.plan import plan_job
from ltxcore.job.request import ExtendSuffixRequest, parse_request
from ltxcore.job.settings import JobSettings, parse_size


def settings(**kw: object) -> JobSettings:
    return JobSettings(work_root="/w", device="cpu", **kw)


def test_fit_settings_use_the_bucket_and_the_snapped_frame_count() -> None:
    req = ExtendSuffixRequest(
        training_data_url="s3://bucket/x.zip",
        number_of_frames=50,
        frame_rate=30,
        resolution="low",
        aspect_ratio="9:16",
        auto_scale_input=True,
        with_audio=True,
        trigger_phrase="sks",
    )
    s = plan_job(req, settings()).fit
    assert (s.num_frames, s.fps, s.width, s.height) == (49, 30, 288, 512)
    assert s.auto_scale and s.with_audio and s.audio_normalize and s.audio_preserve_pitch
    # the trigger phrase is applied after fitting (a new one re-runs no ffmpeg), so the fit settings lack it
    assert s.trigger_phrase == "" and plan_job(req, settings()).trigger_phrase == "sks"
    assert s.audio_samples == round(16000 * 49 / 30)
    assert plan_job(req, settings(bucket_override=(64, 96))).fit.width == 64


def test_train_config_takes_the_request_fields_over_the_trainer_settings() -> None:
    req = ExtendSuffixRequest(
        training_data_url="https://x/y.zip",
        rank=16,
        number_of_steps=300,
        learning_rate=1e-4,
        conditioning_frames=16,
        frame_rate=25,
        with_audio=True,
        trigger_phrase="sks",
    )
    cfg = plan_job(req, settings(trainer={"gradient_checkpointing": True, "seed": 7}, model="/m")).train
    assert (cfg.rank, cfg.steps, cfg.learning_rate, cfg.conditioning_frames) == (16, 300, 1e-4, 16)
    assert (cfg.frame_rate, cfg.with_audio, cfg.trigger_phrase, cfg.seed) == (25, True, "sks", 7)
    assert cfg.gradient_checkpointing and cfg.base_model == "/m"
    assert plan_job(req, settings()).train.gradient_checkpointing is False  # CPU: off unless set


def test_validation_settings_use_the_validation_fields_and_no_extension_without_clips() -> None:
    request = parse_request(
        {
            "training_data_url": "https://example.com/d.zip",
            "conditioning_frames": 16,
            "validation_number_of_frames": 40,
            "validation_frame_rate": 12,
            "validation_resolution": "low",
            "validation_aspect_ratio": "16:9",
            "stg_scale": 0.0,
            "validation": [{"video_url": "https://example.com/c.mp4", "prompt": "p"}],
        }
    )
    plan = plan_job(request, settings(sample_steps=7))
    e = plan.extend
    assert e is not None
    assert (e.num_frames, e.fps, e.width, e.height, e.steps) == (33, 12, 512, 288, 7)
    assert e.conditioning_frames == 16 and e.stg_scale == 0.0
    assert plan.prompts == ["p"] and plan.validation.entries[0].video_url == "https://example.com/c.mp4"
    assert plan_job(request.model_copy(update={"validation": []}), settings()).extend is None
    assert plan.billable_units == 2000 and plan.scene_threshold_s == 30.0


def test_job_settings_read_every_variable_once_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXTEND_SUFFIX_WORK_ROOT", "/data/work")
    monkeypatch.setenv("EXTEND_SUFFIX_ALLOW_LOCAL", "true")
    monkeypatch.setenv("EXTEND_SUFFIX_BUCKET_OVERRIDE", "64x32")
    monkeypatch.setenv("EXTEND_SUFFIX_TRAINER", '{"checkpoint_every": 5}')
    s = JobSettings()
    assert (s.work_root, s.output_root, s.allow_local_inputs, s.bucket_override) == (
        "/data/work",
        "/data/work/outputs",
        True,
        (64, 32),
    )
    assert s.trainer.checkpoint_every == 5 and s.trainer.seed == 42
    monkeypatch.setenv("EXTEND_SUFFIX_TRAINER", '{"no_such_setting": 1}')
    with pytest.raises(ValueError, match="no_such_setting"):
        JobSettings()
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        parse_size("64")


def test_a_deployment_s_environment_reads_back_as_the_same_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # to_env is derived from the fields, so a field added later travels to a worker without a hand-kept list
    for key in [k for k in os.environ if k.startswith("EXTEND_SUFFIX_")]:
        monkeypatch.delenv(key)  # another test's S3 server may have left its endpoint here: start from none
    given = JobSettings(
        work_root="/w",
        model="s3://models/ltx",
        allow_local_inputs=True,
        bucket_override=(64, 32),
        trainer={"checkpoint_every": 5},
        gpu="h100",
        previews=3,
        link_expiry_days=2.5,
        stage_mirror="s3://m/stages",
    )
    env = given.to_env()
    assert env["EXTEND_SUFFIX_ALLOW_LOCAL"] == "true" and env["EXTEND_SUFFIX_BUCKET_OVERRIDE"] == "64x32"
    assert env["EXTEND_SUFFIX_TRAINER"] == '{"checkpoint_every":5}' and "EXTEND_SUFFIX_TRAIN_DEPLOYMENT" not in env
    assert not any(k.startswith("AWS_") or k == "EXTEND_SUFFIX_CACHE" for k in env)  # the machine's, not the job's
    for key in [k for k in os.environ if k.startswith("EXTEND_SUFFIX_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert JobSettings().model_dump(exclude={"cache"}) == given.model_dump(exclude={"cache"})
    assert len(env) == 16  # every JobSettings field but train_deployment, unset here
