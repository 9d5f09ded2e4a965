"""The pieces resume rests on: LR schedule, data order, checkpoint integrity, log truncation."""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path

import pytest
import torch

from ltxcore.train.checkpoint import TrainState, load_latest, save_checkpoint
from ltxcore.train.config import TrainConfig
from ltxcore.train.data import ClipOrder, split_holdout
from ltxcore.train.metrics import MetricsLog
from ltxcore.train.rng import capture_rng
from ltxcore.train.schedule import lr_at


def test_lr_warms_up_linearly_then_decays_linearly_to_the_floor():
    lrs = [lr_at(s, peak=1e-3, total=100, warmup=9, final_ratio=0.1) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[8] == pytest.approx(9e-4)  # (s+1)/(warmup+1) of the peak
    assert lrs[9] == pytest.approx(1e-3)  # the peak right after warm-up
    assert lrs[-1] == pytest.approx(1e-4)  # final_ratio x peak at the last step
    assert lrs[54] == pytest.approx(1e-3 * (1 - 0.9 * 45 / 90))  # linear in between
    assert all(a < b for a, b in itertools.pairwise(lrs[:10]))
    assert all(a > b for a, b in itertools.pairwise(lrs[9:]))


def test_default_warmup_is_five_percent_capped_at_100():
    assert TrainConfig(steps=400).warmup_steps == 20
    assert TrainConfig(steps=20000).warmup_steps == 100
    assert TrainConfig(steps=400, warmup=0).warmup_steps == 0


def test_data_order_is_seeded_and_covers_every_clip_each_epoch():
    order = ClipOrder(list(range(10)), batch_size=3, seed=5)
    epoch0 = [i for m in range(3) for i in order.micro_batch(m)]
    epoch1 = [i for m in range(3, 6) for i in order.micro_batch(m)]
    assert len(set(epoch0)) == 9 and len(set(epoch1)) == 9  # one clip left over per epoch, a different one
    assert epoch0 != epoch1
    assert ClipOrder(list(range(10)), 3, seed=5).micro_batch(4) == order.micro_batch(4)
    assert ClipOrder(list(range(10)), 3, seed=6).micro_batch(4) != order.micro_batch(4)


def test_holdout_split():
    train, held = split_holdout(20, None, seed=0)
    assert len(held) == 2 and not set(train) & set(held) and sorted(train + held) == list(range(20))
    train, held = split_holdout(3, None, seed=0)  # too few to spare one: validate on a training clip
    assert len(train) == 3 and held == train[:1]
    with pytest.raises(ValueError):
        split_holdout(3, 3, seed=0)


def _state(step: int) -> TrainState:
    return TrainState(
        step=step,
        lora={"w": torch.full((2, 2), float(step))},
        optimizer={"state": {}},
        rng=capture_rng(),
        config={"steps": 10},
    )


def test_damaged_checkpoints_are_skipped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    for step in (2, 4, 6):
        save_checkpoint(tmp_path, _state(step), keep=3)
    assert load_latest(tmp_path).step == 6
    newest = tmp_path / "step-00000006.pt"
    newest.write_bytes(newest.read_bytes()[:100])  # truncated
    (tmp_path / "step-00000008.pt").write_bytes(b"half")  # written, but its sidecar never was
    with caplog.at_level(logging.WARNING):
        state = load_latest(tmp_path)
    assert state.step == 4 and torch.equal(state.lora["w"], torch.full((2, 2), 4.0))
    assert "step-00000006.pt" in caplog.text
    sidecar = tmp_path / "step-00000004.json"
    sidecar.write_text("{not json")
    assert load_latest(tmp_path).step == 2


def test_old_checkpoints_are_pruned(tmp_path: Path):
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, _state(step), keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "step-00000002.json",
        "step-00000002.pt",
        "step-00000003.json",
        "step-00000003.pt",
    ]


def test_resumed_log_drops_the_steps_that_will_be_redone(tmp_path: Path):
    path = tmp_path / "metrics.jsonl"
    log = MetricsLog(path, resume_step=0)
    for step in range(1, 6):
        log.write({"kind": "step", "step": step, "loss": 1.0})
    log.write({"kind": "validation", "step": 5, "loss": 1.0})
    resumed = MetricsLog(path, resume_step=3)
    assert [r["step"] for r in resumed.records] == [1, 2, 3]
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2, 3]
