"""The time a training run has left counts what the rest of the run does: the steps at their wall time, and the
validations, previews, checkpoints and the reel still due at their measured cost."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from ltxcore.model.forward import TextBatch
from ltxcore.model.spec import ModelSpec
from ltxcore.train import TrainConfig, TrainProgress, train_lora
from ltxcore.train.eta import RunClock
from ltxcore.train.synthetic import GlidingBlobs


def test_the_events_due_after_a_step_include_its_own_preview_and_checkpoint_and_the_reel():
    clock = RunClock(steps=100, validate_every=25, checkpoint_every=50, preview_every=50, previews=True)
    # after step 50's validation: validations at 75 and 100; the preview at 50 (not 100: the reel shows the last
    # step) and the reel; checkpoints at 50 and 100
    assert clock.due(50) == {"validation": 2, "preview": 2, "checkpoint": 2}
    assert clock.due(51) == {"validation": 2, "preview": 1, "checkpoint": 1}
    assert clock.due(100) == {"validation": 0, "preview": 1, "checkpoint": 1}
    quiet = RunClock(steps=100, validate_every=25, checkpoint_every=50, preview_every=50, previews=False)
    assert quiet.due(50)["preview"] == 0  # no validation clips: no previews and no reel


def test_the_time_left_prices_each_event_at_its_newest_measurement_and_steps_at_their_wall_time():
    clock = RunClock(steps=100, validate_every=25, checkpoint_every=50, preview_every=50, previews=True)
    clock.step_walls = [5.0, 0.2, 0.4]  # the first step (warm-up) is left out of the rate: 0.3 s a step
    clock.costs = {"validation": [9.0, 1.0], "checkpoint": [0.5]}
    assert not clock.complete(50)  # no preview timed yet: the figure is a lower bound
    assert clock.remaining(50) == pytest.approx(50 * 0.3 + 2 * 1.0 + 2 * 0.5)
    clock.costs["preview"] = [20.0]
    assert clock.complete(50)
    assert clock.remaining(50) == pytest.approx(50 * 0.3 + 2 * 1.0 + 2 * 0.5 + 2 * 20.0)


@pytest.mark.usefixtures("one_torch_thread")
def test_the_loop_reports_an_eta_that_counts_the_previews_still_to_come(tmp_path: Path, tiny_text: TextBatch):
    config = TrainConfig(
        rank=4, steps=8, conditioning_frames=8, frame_rate=24, with_audio=False, grad_accum=1, warmup=1,
        checkpoint_every=2, validate_every=100, plot_every=100, preview_every=3, holdout_clips=1,
    )  # fmt: skip
    events: list[TrainProgress] = []

    def preview(step: int, model: torch.nn.Module) -> None:
        time.sleep(0.3)  # a preview that costs at least 0.3 s of wall time

    train_lora(
        GlidingBlobs(4, tiny_text), config, tmp_path, spec=ModelSpec.parse("tiny"), device="cpu",
        progress=events.append, preview=preview,
    )  # fmt: skip
    by_step = {e.step: e for e in events}
    # previews at 3 and 6 (and the reel after): until the first one (and the first checkpoint, at 2) has been timed,
    # the figure says it is a lower bound
    assert [by_step[s].eta_complete for s in (1, 2, 3, 4)] == [False, False, False, True]
    # after step 4: the preview at 6 and the reel, each at the 0.3 s or more the first one took
    assert by_step[4].eta_s >= 2 * 0.3 and by_step[7].eta_s >= 0.3
    assert "ETA >=" in by_step[1].describe() and "ETA >=" not in by_step[4].describe()
