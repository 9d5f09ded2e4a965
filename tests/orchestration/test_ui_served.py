"""The served deployment as a UI user meets it. Every mistake is a clean 422 however the run was created: a run the
server did not validate ends Failed with the same one-sentence message and the 422 artifact listing every mistake
(0 units), a rejected run logs no ERROR traceback, and the URL scheme rule is in the schema, so the server refuses
ftp:// before a run exists. `serve` never serves the toy model by accident, and the deployment's description says
what it runs, what it reads and where its outputs go."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ltxcore.job.request import URL_PATTERN, ExtendSuffixRequest
from ltxcore.job.serving import deployment_description
from ltxcore.job.settings import JobSettings
from ltxcore.media.synth import make_demo_archive
from tests.orchestration.test_deployment import (
    EXE,
    create_run,
    flow_run_process,
    result_artifact,
    serve_process,
    wait_final,
)

pytestmark = pytest.mark.usefixtures("prefect_api")


Served = tuple[httpx.Client, str, Path, int]  # client, deployment id, archive, serve process id


@pytest.fixture(scope="module")
def served(prefect_api: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    archive = make_demo_archive(tmp_path_factory.mktemp("data"), clips=2, seconds=1.5, size=(96, 96), audio=False)[0]
    root = tmp_path_factory.mktemp("served")
    with serve_process(root, "ui-served", archive) as (client, deployment_id, pid):
        yield client, deployment_id, archive, pid


def run_logs(client: httpx.Client, run_id: str, min_level: int = 0) -> list[str]:
    found = client.post(
        "/logs/filter", json={"logs": {"flow_run_id": {"any_": [run_id]}, "level": {"ge_": min_level}}}
    ).json()
    return [log["message"] for log in found]


def wait_process_gone(serve_pid: int, run_id: str) -> None:
    """Wait for the process that ran `run_id` to exit: the run turns Failed before its engine ends, and a traceback
    would be logged in between, so only then have all of its logs arrived."""
    try:
        proc = flow_run_process(serve_pid, run_id, timeout_s=5)
    except AssertionError:
        return  # already gone
    proc.wait(timeout=120)


def result_text(client: httpx.Client, run_id: str) -> str:
    found = client.post(
        "/artifacts/filter",
        json={"artifacts": {"flow_run_id": {"any_": [run_id]}, "key": {"any_": ["extend-suffix-result"]}}},
    ).json()
    assert len(found) == 1
    return found[0]["data"]


def test_a_run_the_server_did_not_validate_ends_failed_with_every_mistake_in_the_422(served: Served) -> None:
    client, deployment_id, archive, serve_pid = served
    params = {"request": {"training_data_url": str(archive), "rank": 7, "number_of_steps": 99}}
    # What the UI sends with "Validate parameters" switched off.
    for _ in range(20):  # a 503 is the test server's SQLite being busy: retried, as create_run does
        r = client.post(
            f"/deployments/{deployment_id}/create_flow_run",
            json={"parameters": params, "enforce_parameter_schema": False},
        )
        if r.status_code != 503:
            break
        time.sleep(1)
    assert r.status_code == 201, r.text
    run = wait_final(client, r.json()["id"], timeout_s=180)
    assert run["state"]["type"] == "FAILED"
    assert run["state"]["message"] == (
        "Request rejected: rank must be one of 8, 16, 32, 64 or 128 (got 7) (and 1 more problem(s)). "
        "Nothing was billed."
    )
    body = result_artifact(client, run["id"])
    assert body["status"] == 422 and body["billable_units"] == 0
    assert [d["loc"] for d in body["detail"]] == [["body", "rank"], ["body", "number_of_steps"]]
    text = result_text(client, run["id"])
    assert "- `rank`: rank must be one of" in text and "- `number_of_steps`: number_of_steps must be >= 100" in text
    assert '\n  "status": 422,' in text  # pretty-printed, not one long line
    wait_process_gone(serve_pid, run["id"])
    assert run_logs(client, run["id"], min_level=40) == []


def test_a_correctly_rejected_run_logs_no_error_traceback(served: Served) -> None:
    client, deployment_id, archive, serve_pid = served
    params = {"request": {"training_data_url": str(archive), "conditioning_frames": 96, "number_of_frames": 89}}
    r = create_run(client, deployment_id, params)
    assert r.status_code == 201
    run = wait_final(client, r.json()["id"], timeout_s=180)
    assert run["state"]["type"] == "FAILED" and run["state"]["message"].startswith("Request rejected:")
    assert result_artifact(client, run["id"])["billable_units"] == 0
    wait_process_gone(serve_pid, run["id"])
    assert run_logs(client, run["id"], min_level=40) == []


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"training_data_url": "ftp://example.com/clips.zip"}, "training_data_url"),
        ({"validation": [{"video_url": "gopher://example.com/v.mp4"}]}, "video_url"),
    ],
)
def test_the_server_refuses_a_url_scheme_the_contract_does_not_know_before_a_run_exists(
    served: Served, request_fields: dict, field: str
) -> None:
    client, deployment_id, archive, _ = served
    before = client.post("/flow_runs/count", json={}).json()
    r = create_run(client, deployment_id, {"request": {"training_data_url": str(archive), **request_fields}})
    assert r.status_code == 409 and field in r.text and "does not match" in r.text
    assert client.post("/flow_runs/count", json={}).json() == before


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://example.com/clips.zip", True),
        ("HTTP://example.com/clips.zip", True),
        ("s3://bucket/clips.zip", True),
        ("file:///data/clips.zip", True),
        ("/data/clips.zip", True),
        ("clips/v1.zip", True),
        ("C:/data/clips.zip", True),
        ("ftp://example.com/clips.zip", False),
        ("gopher://example.com/clips.zip", False),
        ("javascript:alert(1)", False),
        ("", False),
    ],
)
def test_the_schema_pattern_and_the_request_model_agree_on_every_scheme(url: str, allowed: bool) -> None:
    schema = ExtendSuffixRequest.model_json_schema()
    assert schema["properties"]["training_data_url"]["pattern"] == URL_PATTERN
    assert (re.search(URL_PATTERN, url) is not None) is allowed
    try:
        ExtendSuffixRequest(training_data_url=url)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted is allowed


def serve_without_a_model(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "EXTEND_SUFFIX_MODEL"}
    env["PREFECT_API_URL"] = "http://127.0.0.1:9/api"  # nothing listens there: serve must stop before any API call
    return subprocess.run([str(EXE), "serve", *args], env=env, capture_output=True, text=True, timeout=120)


def test_serve_refuses_to_start_without_an_explicit_model() -> None:
    out = serve_without_a_model()
    assert out.returncode == 2, out.stderr
    body = json.loads(out.stdout)
    assert body["status"] == 422 and body["detail"][0]["loc"] == ["--model"]
    assert "EXTEND_SUFFIX_MODEL" in body["detail"][0]["msg"] and "Traceback" not in out.stderr


def test_serve_refuses_a_model_spec_that_names_no_model(tmp_path: Path) -> None:
    out = serve_without_a_model("--model", str(tmp_path))  # a directory without model_index.json
    assert out.returncode == 2, out.stderr
    detail = json.loads(out.stdout)["detail"][0]
    assert detail["loc"] == ["--model"] and "model_index.json" in detail["msg"]


def test_the_served_deployment_describes_its_model_schemes_and_outputs(served: Served) -> None:
    client, deployment_id, _, _ = served
    text = client.get(f"/deployments/{deployment_id}").json()["description"]
    assert "**Model**: `tiny` (random toy weights" in text
    assert "`http(s)://`, `s3://`, local paths and `file://`" in text  # the test deployment allows local inputs
    assert re.search(r"\*\*Outputs\*\*: `/\S+/out/<key>/` on the worker's disk", text), text


def test_an_s3_deployment_describes_presigned_links_and_refused_local_paths() -> None:
    settings = JobSettings(model="s3://models/ltx-2.3", output_root="s3://out/runs", link_expiry_days=3)
    text = deployment_description(settings)
    assert "**Model**: `s3://models/ltx-2.3`" in text
    assert "(local paths and `file://` are refused)" in text
    assert "`s3://out/runs/<key>/`; the run's link artifacts are presigned https URLs valid for 3 days" in text
