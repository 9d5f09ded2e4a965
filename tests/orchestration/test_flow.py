"""The Prefect flow on the tiny preset against a real Prefect API: a whole job, a resubmission that finds every
stage cached, and user mistakes that fail the run with the 422 body and 0 billable units."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from safetensors import safe_open

from ltxcore.errors import TOO_SHORT_MESSAGE
from ltxcore.job.rejection import rejection_body
from ltxcore.job.request import parse_request
from ltxcore.job.settings import JobSettings
from ltxcore.media.synth import make_demo_archive

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_demo_archive(tmp_path_factory.mktemp("demo"), clips=4, seconds=1.5, size=(96, 96))


@pytest.fixture()
def job_env(tmp_path: Path, tiny_deployment: Callable) -> Iterator[JobSettings]:
    with tiny_deployment(tmp_path, trainer={"checkpoint_every": 50, "validate_every": 50}) as settings:
        yield settings


def task_states(flow_run_id: object, expect: tuple[str, ...] = ()) -> dict[str, str]:
    """Task name -> final state name of a flow run's task runs. Task runs reach the server as events, a moment after
    the flow returns, so this waits (up to 30 s) until every name in `expect` has arrived."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + 30
    while True:
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        states = {r.name.rsplit("-", 1)[0]: r.state.name for r in runs if r.state and r.state.is_final()}
        if set(expect) <= states.keys() or time.monotonic() > deadline:
            return states
        time.sleep(0.5)


def test_whole_job_then_a_resubmission_finds_every_stage_cached(demo: tuple[Path, Path], job_env: JobSettings) -> None:
    from flows.extend_suffix import extend_suffix

    request = parse_request(
        {
            "training_data_url": str(demo[0]),
            "number_of_steps": 100,
            "number_of_frames": 25,
            "trigger_phrase": "sks",
            "rank": 8,
        }
    )
    first = extend_suffix(request, return_state=True)
    assert first.is_completed(), first.message
    result = first.result()
    assert result.billable_units == 100 and result.video is None and result.debug_dataset is None
    lora = Path(result.lora_file.url.removeprefix("file://"))
    with safe_open(str(lora), "pt") as f:
        keys = list(f.keys())
        assert all(k.startswith("diffusion_model.") for k in keys) and len(keys) > 8
        assert {str(f.get_tensor(k).dtype) for k in keys} == {"torch.bfloat16"}
    config = json.loads(Path(result.config_file.url.removeprefix("file://")).read_text())
    assert (config["training_type"], config["trigger_phrase"], config["conditioning_frames"]) == (
        "extend-suffix",
        "sks",
        8,
    )
    assert (config["lora"]["rank"], config["lora"]["alpha"], config["steps"]) == (8, 8, 100)
    assert (Path(job_env.output_root).glob("*/result.json")).__next__().is_file()

    # A deployment setting no stage of this request depends on (no validation clips, so no reel) must not reach
    # any cache key: before stage keys came from the stage registry, every task hashed all settings and missed.
    os.environ["EXTEND_SUFFIX_SAMPLE_STEPS"] = "7"
    second = extend_suffix(request, return_state=True)
    # the same outputs; only the receipt differs (the resubmission's stages are all Cached, so it used nothing)
    assert second.is_completed() and second.result().model_copy(update={"receipt": None}) == result.model_copy(
        update={"receipt": None}
    )
    states = task_states(
        second.state_details.flow_run_id, ("train-lora", "encode-dataset", "fetch-archive", "build-dataset", "publish")
    )
    assert states["train-lora"] == "Cached" and states["encode-dataset"] == "Cached"
    assert states["fetch-archive"] == "Cached" and states["build-dataset"] == "Cached"
    assert states["publish"] == "Completed"
    # the stages' artifacts are drawn by the flow from their results, so the all-Cached run's page has them too
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[second.state_details.flow_run_id]))
        )
    keys = {a.key for a in found}
    assert {"dataset-report", "training-summary", "loss-curve", "receipt", "extend-suffix-result"} <= keys, keys
    summary = next(a for a in found if a.key == "training-summary").data
    assert "**Training finished**: 100 steps" in summary


def test_a_cross_field_mistake_fails_the_run_with_the_422_body(demo: tuple[Path, Path], job_env: JobSettings) -> None:
    from flows.extend_suffix import extend_suffix
    from ltxcore.job.request import ExtendSuffixRequest

    # Field by field this is valid (the schema lets it through); together the suffix covers the whole clip.
    request = ExtendSuffixRequest(training_data_url=str(demo[0]), conditioning_frames=96, number_of_frames=89)
    state = extend_suffix(request, return_state=True)
    assert state.is_failed()
    body = rejection_body(state.result(raise_on_failure=False))  # the state carries the RequestRejected
    assert body["status"] == 422 and body["billable_units"] == 0
    assert body["detail"][0]["loc"] == ["body", "conditioning_frames"]
    assert state.message.startswith("Request rejected: conditioning_frames (96) must be smaller")
    assert not Path(job_env.output_root).exists()


def test_all_clips_too_short_is_the_endpoint_s_exact_422(demo: tuple[Path, Path], job_env: JobSettings) -> None:
    from flows.extend_suffix import extend_suffix

    request = parse_request({"training_data_url": str(demo[0]), "number_of_frames": 121})  # 1.5 s < 121/24 s
    state = extend_suffix(request, return_state=True)
    body = rejection_body(state.result(raise_on_failure=False))  # the state carries the RequestRejected
    assert state.is_failed() and body["detail"][0]["msg"] == TOO_SHORT_MESSAGE and body["billable_units"] == 0
    assert task_states(state.state_details.flow_run_id, ("build-dataset",)).get("train-lora") is None


def test_local_inputs_are_refused_where_the_deployment_does_not_allow_them(
    demo: tuple[Path, Path], job_env: JobSettings
) -> None:
    from flows.extend_suffix import extend_suffix

    os.environ["EXTEND_SUFFIX_ALLOW_LOCAL"] = "false"
    state = extend_suffix(parse_request({"training_data_url": str(demo[0])}), return_state=True)
    body = rejection_body(state.result(raise_on_failure=False))  # the state carries the RequestRejected
    assert state.is_failed() and body["detail"][0]["loc"] == ["body", "training_data_url"]
    assert "local paths are not allowed" in body["detail"][0]["msg"]


def test_inputs_from_and_outputs_to_s3_end_to_end(
    demo: tuple[Path, Path], job_env: JobSettings, s3_bucket: str
) -> None:
    from flows.extend_suffix import extend_suffix
    from ltxcore.job.publish import read_result
    from ltxcore.store.fs import filesystem

    fs, _ = filesystem(s3_bucket)
    fs.put_file(str(demo[0]), f"{s3_bucket.removeprefix('s3://')}/in/data.zip")
    fs.put_file(str(demo[1]), f"{s3_bucket.removeprefix('s3://')}/in/closing.mp4")
    os.environ.update(
        EXTEND_SUFFIX_OUTPUT_ROOT=f"{s3_bucket}/out", EXTEND_SUFFIX_ALLOW_LOCAL="false", EXTEND_SUFFIX_SAMPLE_STEPS="2"
    )
    request = parse_request(
        {
            "training_data_url": f"{s3_bucket}/in/data.zip",
            "number_of_steps": 100,
            "number_of_frames": 25,
            "rank": 8,
            "with_audio": True,
            "debug_dataset": True,
            "validation_number_of_frames": 17,
            "validation": [{"video_url": f"{s3_bucket}/in/closing.mp4", "prompt": "a white square glides"}],
        },
        allow_local=False,
    )
    state = extend_suffix(request, return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    prefix = result.lora_file.url.rsplit("/", 1)[0]
    assert prefix.startswith(f"{s3_bucket}/out/") and read_result(prefix) == result
    for out in (result.lora_file, result.config_file, result.video, result.debug_dataset):
        assert out is not None and fs.info(out.url.removeprefix("s3://"))["size"] == out.file_size > 0
    assert result.video.content_type == "video/mp4" and result.debug_dataset.content_type == "application/zip"


def test_a_worker_without_the_earlier_workers_disk_finishes_from_the_stage_mirror(
    demo: tuple[Path, Path], job_env: JobSettings, s3_bucket: str
) -> None:
    import shutil

    from flows.extend_suffix import extend_suffix
    from ltxcore.store.fs import filesystem

    os.environ["EXTEND_SUFFIX_STAGE_MIRROR"] = f"{s3_bucket}/stages"
    request = parse_request(
        {
            "training_data_url": str(demo[0]),
            "number_of_steps": 100,
            "number_of_frames": 25,
            "rank": 8,
            "trigger_phrase": "mirror",
        }
    )
    first = extend_suffix(request, return_state=True)
    assert first.is_completed(), first.message
    fs, key = filesystem(f"{s3_bucket}/stages")
    mirrored = fs.find(key)
    assert any(p.endswith("lora.safetensors") for p in mirrored) and any("/encode/" in p for p in mirrored)
    assert any(p.endswith("/checkpoints/step-00000100.pt") for p in mirrored)  # what a retry elsewhere resumes from

    shutil.rmtree(job_env.work_root)  # the next runs happen on a "machine" that never saw the first one's files
    # A new training config: every stage up to encode is Cached, and training needs the latent cache's files.
    retrained = extend_suffix(parse_request({**request.model_dump(), "rank": 16}), return_state=True)
    assert retrained.is_completed(), retrained.message
    states = task_states(retrained.state_details.flow_run_id, ("encode-dataset", "train-lora"))
    assert states["encode-dataset"] == "Cached" and states["train-lora"] == "Completed"
    assert retrained.result().lora_file.file_size > first.result().lora_file.file_size  # rank 16 > rank 8


def test_a_work_root_deleted_and_made_again_at_the_same_path_runs_again_and_recreates_its_files(
    demo: tuple[Path, Path], job_env: JobSettings
) -> None:
    import shutil

    from flows.extend_suffix import extend_suffix

    os.environ.update(EXTEND_SUFFIX_SAMPLE_STEPS="2", EXTEND_SUFFIX_PREVIEWS="0")
    request = parse_request(
        {
            "training_data_url": str(demo[0]),
            "number_of_steps": 100,
            "number_of_frames": 25,
            "rank": 8,
            "trigger_phrase": "again",
            "validation_number_of_frames": 17,
            "validation": [{"video_url": str(demo[1]), "prompt": "a white square glides"}],
        }
    )
    first = extend_suffix(request, return_state=True)
    assert first.is_completed(), first.message
    work = Path(job_env.work_root)

    def videos(stage: str) -> list[Path]:
        return sorted(p.relative_to(work) for p in (work / stage).rglob("*.mp4"))

    intake = {stage: videos(stage) for stage in ("validation", "extract", "fit")}
    assert [len(v) for v in intake.values()] == [1, 4, 4]
    assert len(videos("validation-reel")) == 2  # the reel and its entry

    # `rm -rf runs/demo` and the same command again: nothing outside the work root may claim its stages are done
    shutil.rmtree(work)
    work.mkdir()
    again = extend_suffix(request, return_state=True)
    assert again.is_completed(), again.message
    states = task_states(
        again.state_details.flow_run_id,
        ("check-validation-clips", "fetch-archive", "encode-dataset", "train-lora", "render-validation"),
    )
    assert [states[s] for s in ("check-validation-clips", "fetch-archive", "encode-dataset", "train-lora")] == [
        "Completed"
    ] * 4
    assert states["render-validation"] == "Completed"
    assert {stage: videos(stage) for stage in intake} == intake  # every file made again, in place
    assert len(videos("validation-reel")) == 2  # the reel and its entry
    assert again.result().lora_file.file_size == first.result().lora_file.file_size
