"""Cheap reruns of what users tweak most, proved by the stages' states and the LoRA's bytes: new validation prompts
and a new negative prompt re-embed the texts and re-render the reel but re-encode no clip and retrain nothing; a new
trigger phrase re-runs no ffmpeg (every fit is Cached)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ltxcore.job.request import parse_request
from ltxcore.job.settings import JobSettings
from ltxcore.media.synth import make_demo_archive
from tests.orchestration.test_flow import task_states

pytestmark = pytest.mark.usefixtures("prefect_api", "one_torch_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_demo_archive(tmp_path_factory.mktemp("reruns"), clips=2, seconds=1.5, size=(96, 96), audio=False)


@pytest.fixture(scope="module")
def job_env(tmp_path_factory: pytest.TempPathFactory, tiny_deployment: Callable) -> Iterator[JobSettings]:
    trainer = {"checkpoint_every": 50, "validate_every": 50}
    with tiny_deployment(tmp_path_factory.mktemp("reruns-work"), sample_steps=2, trainer=trainer) as settings:
        yield settings


def run(data: tuple[Path, Path], **fields: Any) -> tuple[dict[str, str], bytes]:
    """Run the flow; returns (task name -> state name, the published LoRA's bytes)."""
    from flows.extend_suffix import extend_suffix

    archive, closing = data
    request = {
        "training_data_url": str(archive),
        "number_of_steps": 100,
        "number_of_frames": 25,
        "rank": 8,
        "trigger_phrase": "sks",
        "validation": [{"video_url": str(closing), "prompt": "sks a square glides"}],
        "validation_number_of_frames": 25,
        "validation_resolution": "low",
    }
    state = extend_suffix(parse_request(request | fields), return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    states = task_states(state.state_details.flow_run_id, ("publish", "render-validation"))
    return states, Path(result.lora_file.url.removeprefix("file://")).read_bytes()


def fit_states(states: dict[str, str]) -> list[str]:
    return [v for k, v in states.items() if k.startswith("fit-")]


def test_new_validation_prompts_re_embed_and_re_render_but_neither_re_encode_nor_retrain(
    data: tuple[Path, Path], job_env: JobSettings
) -> None:
    first, lora = run(data)
    assert first["encode-dataset"] == "Completed" and first["train-lora"] == "Completed"
    changed = {
        "validation": [{"video_url": str(data[1]), "prompt": "sks a square glides to the left"}],
        "validation_negative_prompt": "blurry",
    }
    second, lora_again = run(data, **changed)
    assert second["encode-dataset"] == "Cached" and second["train-lora"] == "Cached"
    assert second["encode-validation-texts"] == "Completed" and second["render-validation"] == "Completed"
    assert lora_again == lora and len(lora) > 1000


def test_a_new_trigger_phrase_re_runs_no_ffmpeg(data: tuple[Path, Path], job_env: JobSettings) -> None:
    before, _ = run(data)  # the first test's request again: every stage Cached
    assert before["train-lora"] == "Cached" and set(fit_states(before)) == {"Cached"}
    after, _ = run(data, trigger_phrase="zxq", validation=[{"video_url": str(data[1]), "prompt": "zxq a square"}])
    fits = fit_states(after)
    assert len(fits) == 2 and set(fits) == {"Cached"}  # both clips' ffmpeg fits reused
    assert after["build-dataset"] == "Completed" and after["encode-dataset"] == "Completed"  # new captions
    assert after["train-lora"] == "Completed"
