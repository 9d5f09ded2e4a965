"""Training checkpoints on the stage mirror: a run whose worker died resumes on another worker, bitwise."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ltxcore.model.forward import TextBatch
from ltxcore.model.spec import ModelSpec
from ltxcore.store.fs import filesystem
from ltxcore.store.mirror import CheckpointMirror, StageMirror
from ltxcore.train import train_lora
from ltxcore.train.checkpoint import load_latest
from ltxcore.train.synthetic import GlidingBlobs
from tests.support.configs import tiny_train_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TINY = ModelSpec.parse("tiny")
RUN = Path("train") / "run-key"


def test_a_run_resumes_on_another_worker_from_the_mirrored_checkpoint(
    tmp_path: Path, s3_bucket: str, tiny_text: TextBatch
) -> None:
    source = GlidingBlobs(4, tiny_text)
    cfg = tiny_train_config(steps=6, warmup=1, checkpoint_every=2, keep_checkpoints=2, validate_every=3)
    straight = train_lora(source, cfg, tmp_path / "straight", spec=TINY, device="cpu")
    remote = f"{s3_bucket}/stages"

    worker_a = tmp_path / "a"
    first = CheckpointMirror(StageMirror(worker_a, remote), worker_a / RUN)
    assert first.push_if_new() is False  # nothing trained yet
    train_lora(source, cfg, worker_a / RUN, spec=TINY, device="cpu", stop_after=4)  # then the worker "dies"
    assert first.push_if_new() is True and first.push_if_new() is False  # one upload per new checkpoint
    fs, key = filesystem(f"{remote}/{RUN.as_posix()}")
    assert sorted(p.rsplit("/", 1)[1] for p in fs.find(key)) == [
        "metrics.jsonl",
        "step-00000002.json",
        "step-00000002.pt",
        "step-00000004.json",
        "step-00000004.pt",
    ]

    worker_b = tmp_path / "b"  # another machine: no disk in common with worker A
    second = CheckpointMirror(StageMirror(worker_b, remote), worker_b / RUN)
    assert len(second.restore()) == 5 and load_latest(worker_b / RUN / "checkpoints").step == 4
    resumed = train_lora(source, cfg, worker_b / RUN, spec=TINY, device="cpu")
    assert resumed.steps_done == 6 and Path(resumed.lora_path).read_bytes() == Path(straight.lora_path).read_bytes()
    a, b = load_latest(tmp_path / "straight" / "checkpoints"), load_latest(worker_b / RUN / "checkpoints")
    assert all(torch.equal(a.lora[k], b.lora[k]) for k in a.lora)
    assert [v.step for v in resumed.validation] == [0, 3, 6]  # the log continued across machines

    assert second.push_if_new() is True  # step 6 went up; step 2, pruned on worker B, is gone from the mirror too
    names = sorted(p.rsplit("/", 1)[1] for p in fs.find(key))
    assert names == [
        "metrics.jsonl",
        "step-00000004.json",
        "step-00000004.pt",
        "step-00000006.json",
        "step-00000006.pt",
    ]
