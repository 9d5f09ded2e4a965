"""Progress people can follow in the Prefect UI: previews by default (about 8 over a run with validation clips,
settable, switchable off), one preview table updated in place, one progress artifact per stage (a retry reuses it)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ltxcore.job.plan import plan_job, preview_interval
from ltxcore.job.request import ExtendSuffixRequest, parse_request
from ltxcore.job.settings import JobSettings
from ltxcore.media.synth import make_demo_archive

VALIDATION = [{"video_url": "s3://bucket/closing.mp4", "prompt": "sks"}]


def preview_steps(every: int, steps: int) -> list[int]:
    return [s for s in range(every, steps, every)]  # the training loop's rule: every `every` steps, not the last


@pytest.mark.parametrize(("steps", "every"), [(100, 12), (2000, 223), (20000, 2223)])
def test_eight_previews_fall_inside_the_run_by_default(steps: int, every: int) -> None:
    request = ExtendSuffixRequest(training_data_url="s3://bucket/x.zip", number_of_steps=steps, validation=VALIDATION)
    config = plan_job(request, JobSettings(work_root="/w", device="cpu")).train
    assert config.preview_every == every == preview_interval(steps, 8)
    assert len(preview_steps(every, steps)) == 8


def test_previews_are_settable_switchable_off_and_need_validation_clips() -> None:
    def every(settings: JobSettings, validation: list[dict[str, str]] = VALIDATION) -> int | None:
        request = ExtendSuffixRequest(
            training_data_url="s3://bucket/x.zip", number_of_steps=1000, validation=validation
        )
        return plan_job(request, settings).train.preview_every

    assert every(JobSettings(work_root="/w", device="cpu", previews=3)) == 250
    assert every(JobSettings(work_root="/w", device="cpu", previews=0)) is None
    assert every(JobSettings(work_root="/w", device="cpu"), validation=[]) is None
    assert every(JobSettings(work_root="/w", device="cpu", trainer={"preview_every": 50})) == 50  # explicit wins


@pytest.fixture()
def job_env(tmp_path: Path, tiny_deployment: Callable) -> Iterator[JobSettings]:
    trainer = {"checkpoint_every": 50, "validate_every": 25}
    with tiny_deployment(tmp_path, sample_steps=2, trainer=trainer) as settings:
        yield settings


def run_artifacts(flow_run_id: Any) -> list[dict[str, Any]]:
    from prefect.settings import PREFECT_API_URL

    body = {"artifacts": {"flow_run_id": {"any_": [str(flow_run_id)]}}}
    return httpx.post(f"{PREFECT_API_URL.value()}/artifacts/filter", json=body).json()


@pytest.mark.usefixtures("prefect_api", "one_torch_thread")
def test_a_run_with_validation_shows_eight_previews_in_one_table_and_one_progress_card_per_stage(
    tmp_path: Path, job_env: JobSettings
) -> None:
    from flows.extend_suffix import extend_suffix

    archive, closing = make_demo_archive(tmp_path / "data", clips=2, seconds=1.5, size=(96, 96), audio=False)
    request = {
        "training_data_url": str(archive),
        "number_of_steps": 100,
        "number_of_frames": 25,
        "rank": 16,
        "validation": [{"video_url": str(closing), "prompt": "a square glides"}],
        "validation_number_of_frames": 25,
        "validation_resolution": "low",
    }
    state = extend_suffix(parse_request(request), return_state=True)
    assert state.is_completed(), state.message
    found = run_artifacts(state.state_details.flow_run_id)
    by_key: dict[str, list[dict[str, Any]]] = {}
    for artifact in found:
        by_key.setdefault(artifact["key"], []).append(artifact)
    assert len(by_key["validation-previews"]) == 1  # one card, updated eight times
    table = by_key["validation-previews"][0]["data"]
    steps = [int(m) for m in re.findall(r"^\| (\d+) \|", table, flags=re.MULTILINE)]
    assert steps == preview_steps(12, 100) == [12, 24, 36, 48, 60, 72, 84, 96]
    assert table.count("](data:image/") == 8
    held_out = re.findall(r"^\| \d+ \| ([\d.]+) \|", table, flags=re.MULTILINE)
    assert len(held_out) == 6 and all(float(v) > 0 for v in held_out)  # validate_every 25: from step 36 on
    for key in ("training-progress", "encoding-progress"):
        assert len(by_key[key]) == 1 and float(by_key[key][0]["data"]) == 100.0


@pytest.mark.usefixtures("prefect_api")
def test_a_stage_s_progress_artifact_is_reused_by_its_retry() -> None:
    from prefect import flow

    from tasks.artifacts import progress_artifact

    @flow
    def attempts() -> list[str]:
        return [str(progress_artifact("demo-progress", f"attempt {i}")) for i in range(3)]

    state = attempts(return_state=True)
    ids = state.result()
    assert len(set(ids)) == 1
    assert [a["key"] for a in run_artifacts(state.state_details.flow_run_id)] == ["demo-progress"]
