"""Audio guardrails in training, on the tiny preset: a frozen audio branch shows as zero audio gradients, the audio
trend is read from the held-out losses, and a poisoned batch stops the run with a clear error instead of training on."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from ltxcore.model.forward import TextBatch
from ltxcore.model.spec import ModelSpec
from ltxcore.train import TrainConfig, train_lora
from ltxcore.train.adapters import is_audio_module
from ltxcore.train.checkpoint import load_latest
from ltxcore.train.data import ClipLatents, ClipOrder, split_holdout
from ltxcore.train.files import RunFiles
from ltxcore.train.guards import NonFiniteTraining, audio_trend
from ltxcore.train.session import Session
from ltxcore.train.synthetic import GlidingBlobs
from tests.support.configs import tiny_train_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TINY = ModelSpec.parse("tiny")


def _config(**overrides) -> TrainConfig:
    return tiny_train_config(**{"steps": 8, "learning_rate": 3e-2, "checkpoint_every": 2} | overrides)


def _session(tmp_path: Path, text: TextBatch, *, freeze_audio: bool) -> Session:
    session = Session.build(
        GlidingBlobs(4, text), _config(), RunFiles.under(tmp_path), spec=TINY, device=torch.device("cpu")
    )
    if freeze_audio:  # the bug the guard is for: the audio adapters get no gradient
        for name, param in session.params.items():
            if is_audio_module(name):
                param.requires_grad_(False)
    for step in range(8):
        session.train_step(step)
    session.validate(8)
    return session


def test_a_frozen_audio_branch_is_reported_as_zero_gradients_and_a_flat_audio_loss(tmp_path: Path, tiny_text, caplog):
    frozen = _session(tmp_path / "frozen", tiny_text, freeze_audio=True)
    steps = frozen.metrics.of_kind("step")
    assert [r["grad_norm_audio"] for r in steps] == [0.0] * 8 and all(r["grad_norm_video"] > 0 for r in steps)
    val = frozen.metrics.of_kind("validation")
    video_change = val[-1]["loss_video"] / val[0]["loss_video"] - 1
    audio_change = val[-1]["loss_audio"] / val[0]["loss_audio"] - 1
    # the held-out audio loss still falls a little (the video adapters reach it through the video-to-audio
    # attention), so only the gradients tell that the audio adapters are not learning
    assert video_change < -0.05 and audio_change < 0.0
    findings = frozen.manifest(finished=False).guard_findings
    assert len(findings) == 1 and findings[0].startswith("audio gradients were zero on 8 of 8 steps (first at step 1)")
    assert "audio gradients are zero at step 1" in caplog.text

    healthy = _session(tmp_path / "healthy", tiny_text, freeze_audio=False)
    assert all(r["grad_norm_audio"] > 0 for r in healthy.metrics.of_kind("step"))
    assert healthy.manifest(finished=False).guard_findings == []


def test_audio_trend_reads_flat_and_diverging_from_the_held_out_losses():
    def points(video: float, audio: float) -> list[dict]:
        return [
            {"step": 0, "loss_video": 1.0, "loss_audio": 1.0},
            {"step": 9, "loss_video": video, "loss_audio": audio},
        ]

    assert audio_trend(points(0.8, 0.99)).startswith("audio loss stays flat")  # -1% against -20%
    assert audio_trend(points(0.8, 1.10)).startswith("audio loss diverges")
    assert audio_trend(points(0.8, 0.85)) is None  # audio learns too (-15%)
    assert audio_trend(points(0.98, 1.2)) is None  # video is not learning either: nothing to compare against


class Poisoned:
    """GlidingBlobs with NaN in one clip's audio latents."""

    def __init__(self, source: GlidingBlobs, bad: int):
        self.source, self.bad = source, bad

    def __len__(self) -> int:
        return len(self.source)

    def load(self, index: int, *, with_audio: bool) -> ClipLatents:
        clip = self.source.load(index, with_audio=with_audio)
        if index == self.bad and clip.audio is not None:
            clip = dataclasses.replace(clip, audio=torch.full_like(clip.audio, float("nan")))  # [8, T, 16]
        return clip


def test_a_poisoned_batch_stops_the_run_naming_the_modality_step_and_clip(tmp_path: Path, tiny_text):
    source = Poisoned(GlidingBlobs(4, tiny_text), bad=2)
    cfg = _config(holdout_clips=0, validate_every=100, batch_size=1)
    out = tmp_path / "run"
    with pytest.raises(NonFiniteTraining) as stopped:
        train_lora(source, cfg, out, spec=TINY, device="cpu")
    msg = str(stopped.value)
    step = int(msg.split("training stopped at step ")[1].split(":")[0])
    assert "audio loss nan" in msg and "audio gradient norm nan" in msg and "clips [2]" in msg
    # it stops at the first step whose batch holds clip 2 (NaN reaches the video stream too, through the joint
    # attention, so both losses are named)
    train, _ = split_holdout(4, 0, cfg.seed)
    order = ClipOrder(train, 1, cfg.seed)
    assert step == next(s + 1 for s in range(8) if 2 in order.micro_batch(s)) and "video loss nan" in msg
    latest = load_latest(out / "checkpoints")
    saved = 0 if latest is None else latest.step
    assert saved < step  # the poisoned step was never checkpointed
    assert latest is None or all(torch.isfinite(t).all() for t in latest.lora.values())
