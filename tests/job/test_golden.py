"""Golden files that catch silent drift: a seeded tiny-preset loss trace and a dataset report. A change that moves
either on purpose regenerates them with `UPDATE_GOLDEN=1 ./dev.sh test tests/job/test_golden.py` and says why."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parents[1] / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def matches_golden(name: str, value: object) -> object:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")
    return json.loads(path.read_text())


@pytest.mark.usefixtures("one_torch_thread")
def test_a_seeded_tiny_run_keeps_its_loss_trace(tmp_path: Path, tiny_text: object) -> None:
    from ltxcore.model.spec import ModelSpec
    from ltxcore.train import TrainConfig, train_lora
    from ltxcore.train.synthetic import GlidingBlobs

    cfg = TrainConfig(steps=12, rank=8, checkpoint_every=5, validate_every=6, with_audio=True, seed=3)
    run = train_lora(GlidingBlobs(4, tiny_text), cfg, tmp_path, spec=ModelSpec.parse("tiny"), device="cpu")
    lines = [json.loads(line) for line in Path(run.metrics_path).read_text().splitlines()]
    trace = {
        "step_loss": [[r["step"], round(r["loss"], 6)] for r in lines if r["kind"] == "step"],
        "held_out": [[r["step"], round(r["loss"], 6)] for r in lines if r["kind"] == "validation"],
    }
    golden = matches_golden("tiny_loss_trace.json", trace)
    assert len(trace["step_loss"]) == 12 and [s for s, _ in trace["held_out"]] == [0, 6, 12]
    for (step, loss), (g_step, g_loss) in zip(
        trace["step_loss"] + trace["held_out"], golden["step_loss"] + golden["held_out"], strict=True
    ):
        assert step == g_step and loss == pytest.approx(g_loss, abs=2e-6), f"step {step}"


def test_the_dataset_report_of_a_fixed_archive_is_unchanged(tmp_path: Path) -> None:
    from ltxcore.intake.report import summary
    from ltxcore.job.plan import plan_job
    from ltxcore.job.prepare import prepare
    from ltxcore.job.request import parse_request
    from ltxcore.job.settings import JobSettings
    from tests.support.clips import make_video, make_zip

    d = tmp_path / "media"
    archive = make_zip(
        d / "in.zip",
        {
            "a.mp4": make_video(d / "a.mp4", seconds=2.0, fps=30, size=(160, 90), audio=True),
            "a.txt": "a walk",
            "b.mov": make_video(d / "b.mov", seconds=0.4, fps=24),
            "sub/c.mkv": make_video(d / "c.mkv", seconds=1.2, fps=25, size=(90, 160), audio=True),
        },
    )
    request = parse_request(
        {
            "training_data_url": str(archive),
            "number_of_frames": 17,
            "trigger_phrase": "sks",
            "resolution": "low",
            "aspect_ratio": "16:9",
        }
    )
    settings = JobSettings(work_root=str(tmp_path / "work"), allow_local_inputs=True, device="cpu")
    report = summary(prepare(plan_job(request, settings)))
    golden = matches_golden("dataset_report.json", report)
    assert report == golden
    assert report["counts"]["kept_clips"] == 3 and report["counts"]["skipped"] == 1
