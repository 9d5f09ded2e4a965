"""The served deployment, driven over Prefect's REST API as a service would: a run triggered with
`POST /api/deployments/{id}/create_flow_run` completes and its result is readable over the API; bad parameters
are refused by the server before a run exists; a cross-field mistake ends Failed with the 422 body."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
import pytest
import torch
from safetensors.torch import load_file

from ltxcore.job.settings import JobSettings
from ltxcore.media.synth import make_demo_archive

EXE = Path(sys.executable).with_name("extend-suffix")
T = TypeVar("T")


@contextlib.contextmanager
def serve_process(root: Path, name: str, archive: Path, *extra: str) -> Iterator[tuple[httpx.Client, str, int]]:
    """`extend-suffix serve` in its own process, pointed at the test server; yields (client, deployment id, pid)."""
    from prefect.settings import PREFECT_API_URL

    api = PREFECT_API_URL.value()
    settings = JobSettings(
        work_root=str(root / "work"),
        output_root=str(root / "out"),
        allow_local_inputs=True,
        allow_private_hosts=True,  # the submit test serves its archive over HTTP on loopback
        bucket_override=(64, 64),
        trainer={"checkpoint_every": 25, "validate_every": 50},
    )
    env = {**os.environ, **settings.to_env(), "PREFECT_API_URL": api, "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    log = (root / f"{name}.log").open("w")
    proc = subprocess.Popen([str(EXE), "serve", "--name", name, *extra], env=env, stdout=log, stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=api, timeout=30)
    try:
        deployment_id = None
        for _ in range(120):
            r = client.get(f"/deployments/name/extend-suffix/{name}")
            if r.status_code == 200:
                deployment_id = r.json()["id"]
                break
            assert proc.poll() is None, (root / f"{name}.log").read_text()
            time.sleep(0.5)
        assert deployment_id, "the deployment never registered"
        yield client, deployment_id, proc.pid
    finally:
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a run it could not stop: take the whole tree down
            proc.kill()
            proc.wait(timeout=30)
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        client.close()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_archive(tmp_path_factory.mktemp("data"), clips=3, seconds=1.5, size=(96, 96), audio=False)[0]


@pytest.fixture(scope="module")
def served(prefect_api: None, archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    with serve_process(tmp_path_factory.mktemp("served"), "api-test", archive) as (client, deployment_id, _):
        yield client, deployment_id, archive


def wait_final(client: httpx.Client, run_id: str, timeout_s: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = client.get(f"/flow_runs/{run_id}").json()
        if run["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return run
        time.sleep(1)
    raise AssertionError(f"flow run {run_id} did not finish in {timeout_s} s")


def result_artifact(client: httpx.Client, run_id: str) -> dict[str, Any]:
    import json

    found = client.post(
        "/artifacts/filter",
        json={"artifacts": {"flow_run_id": {"any_": [run_id]}, "key": {"any_": ["extend-suffix-result"]}}},
    ).json()
    assert len(found) == 1
    text = found[0]["data"]
    return json.loads(text[text.index("```json") + 7 : text.rindex("```")])


def test_a_run_triggered_over_rest_completes_with_its_result_readable(served: tuple) -> None:
    client, deployment_id, archive = served
    params = {"request": {"training_data_url": str(archive), "number_of_steps": 100, "number_of_frames": 25, "rank": 8}}
    r = create_run(client, deployment_id, params)
    assert r.status_code == 201 and r.json()["state"]["type"] == "SCHEDULED"
    run = wait_final(client, r.json()["id"])
    assert run["state"]["type"] == "COMPLETED", run["state"]["message"]
    result = result_artifact(client, run["id"])
    assert result["billable_units"] == 100 and result["lora_file"]["file_name"] == "lora.safetensors"
    assert Path(result["lora_file"]["url"].removeprefix("file://")).stat().st_size == result["lora_file"]["file_size"]
    keys = {
        a["key"]
        for a in client.post("/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [run["id"]]}}}).json()
    }
    assert {"dataset-report", "training-progress", "training-summary", "lora-file", "config-file"} <= keys


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"rank": 7}, "rank"),
        ({"number_of_steps": 99}, "number_of_steps"),
        ({"conditioning_frames": 12}, "multiple"),
        ({"nonsense": 1}, "nonsense"),
    ],
)
def test_the_server_refuses_bad_parameters_before_a_run_exists(served: tuple, bad: dict, reason: str) -> None:
    client, deployment_id, archive = served
    before = client.post("/flow_runs/count", json={}).json()
    r = create_run(client, deployment_id, {"request": {"training_data_url": str(archive), **bad}})
    assert r.status_code == 409 and reason in r.text
    assert client.post("/flow_runs/count", json={}).json() == before


def test_a_cross_field_mistake_over_rest_ends_failed_with_the_422_body(served: tuple) -> None:
    client, deployment_id, archive = served
    params = {"request": {"training_data_url": str(archive), "conditioning_frames": 96, "number_of_frames": 89}}
    r = create_run(client, deployment_id, params)
    assert r.status_code == 201
    run = wait_final(client, r.json()["id"], timeout_s=180)
    assert run["state"]["type"] == "FAILED" and "Request rejected" in run["state"]["message"]
    body = result_artifact(client, run["id"])
    assert body["status"] == 422 and body["billable_units"] == 0
    assert body["detail"][0]["loc"] == ["body", "conditioning_frames"]


REQUEST = {"training_data_url": "", "number_of_steps": 100, "number_of_frames": 25, "rank": 8}


def flow_run_process(serve_pid: int, run_id: str, timeout_s: float = 30) -> psutil.Process:
    """The process executing flow run `run_id`: a child of the serve process (served flows run in spawned children),
    which the runner hands the run id in its environment."""
    needle = f"PREFECT__FLOW_RUN_ID={run_id}".encode()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for proc in psutil.Process(serve_pid).children(recursive=True):
            with contextlib.suppress(OSError, psutil.Error):
                if needle in Path(f"/proc/{proc.pid}/environ").read_bytes() or "spawn_main" in " ".join(proc.cmdline()):
                    return proc
        time.sleep(0.1)
    raise AssertionError(f"no process runs flow run {run_id}")


def eventually(probe: Callable[[], T], timeout_s: float = 30) -> T:
    """`probe()`'s first truthy answer within `timeout_s`, else its last answer."""
    deadline = time.monotonic() + timeout_s
    while not (answer := probe()) and time.monotonic() < deadline:
        time.sleep(0.5)
    return answer


def create_run(client: httpx.Client, deployment_id: str, params: dict[str, Any]) -> httpx.Response:
    """POST create_flow_run as a client would: a 503 (the test server's SQLite busy) is retried."""
    for _ in range(20):
        r = client.post(f"/deployments/{deployment_id}/create_flow_run", json={"parameters": params})
        if r.status_code != 503:
            return r
        time.sleep(1)
    return r


def lora_tensors(result: dict[str, Any]) -> dict[str, torch.Tensor]:
    return load_file(result["lora_file"]["url"].removeprefix("file://"))


def test_a_run_killed_mid_training_and_retried_resumes_and_matches_an_uninterrupted_run(
    served: tuple, archive: Path, tmp_path: Path
) -> None:
    client, deployment_id, _ = served
    params = {"request": {**REQUEST, "training_data_url": str(archive)}}
    reference = create_run(client, deployment_id, params).json()
    reference = wait_final(client, reference["id"])
    assert reference["state"]["type"] == "COMPLETED"

    with serve_process(tmp_path, "kill-test", archive) as (client2, deployment2, serve_pid):
        run = create_run(client2, deployment2, params).json()
        checkpoints = tmp_path / "work" / "train"
        deadline = time.monotonic() + 600
        while not list(checkpoints.glob("*/checkpoints/*.json")):  # a finished checkpoint (its sidecar is last)
            assert time.monotonic() < deadline, "no checkpoint was written"
            time.sleep(0.2)
        flow_run_process(serve_pid, run["id"]).send_signal(signal.SIGKILL)
        crashed = wait_final(client2, run["id"])
        assert crashed["state"]["type"] == "CRASHED"
        # What the UI's Retry button sends.
        r = client2.post(
            f"/flow_runs/{run['id']}/set_state",
            json={
                "state": {"type": "SCHEDULED", "name": "AwaitingRetry", "message": "Retry from the UI"},
                "force": True,
            },
        )
        assert r.status_code in (200, 201)
        retried = wait_final(client2, run["id"])
        assert retried["state"]["type"] == "COMPLETED", retried["state"]["message"]
        assert retried["run_count"] >= 2

        def resumed_from() -> list[int]:
            logs = client2.post("/logs/filter", json={"logs": {"flow_run_id": {"any_": [run["id"]]}}}).json()
            return [int(m.group(1)) for log in logs if (m := re.search(r"resuming from step (\d+)", log["message"]))]

        def cached_stages() -> set[str]:
            runs = client2.post("/task_runs/filter", json={"flow_runs": {"id": {"any_": [run["id"]]}}}).json()
            return {t["name"].rsplit("-", 1)[0] for t in runs if t["state"]["name"] == "Cached"}

        # Logs and task runs reach the server in batches, a moment after the run ends.
        resumed = eventually(resumed_from)
        assert resumed and resumed[-1] > 0
        expected = {"fetch-archive", "extract-archive", "probe-clips", "build-dataset", "encode-dataset"}
        cached = eventually(lambda: cached_stages() if expected <= cached_stages() else set())
        assert expected <= cached

        ours, theirs = (
            lora_tensors(result_artifact(client2, run["id"])),
            lora_tensors(result_artifact(client, reference["id"])),
        )
        assert ours.keys() == theirs.keys() and len(ours) > 8
        assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_submit_sends_a_request_over_the_api_and_prints_the_result(
    served: tuple, archive: Path, tmp_path: Path
) -> None:
    from prefect.settings import PREFECT_API_URL

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(archive.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{archive.name}"
        request = tmp_path / "request.json"
        request.write_text(json.dumps({**REQUEST, "training_data_url": url}))
        out = subprocess.run(
            [str(EXE), "submit", str(request), "--deployment", "extend-suffix/api-test"],
            env={**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()},
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        server.shutdown()
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["billable_units"] == 100 and result["lora_file"]["file_name"] == "lora.safetensors"
    assert "submitted flow run" in out.stderr and "Finished in state" not in out.stdout


def test_submit_refuses_a_local_path_before_anything_is_sent(served: tuple, archive: Path, tmp_path: Path) -> None:
    request = tmp_path / "request.json"
    request.write_text(json.dumps({**REQUEST, "training_data_url": str(archive)}))
    out = subprocess.run([str(EXE), "submit", str(request)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "local paths are not allowed" in json.loads(out.stdout)["detail"][0]["msg"]


def test_training_can_run_as_its_own_deployment(archive: Path, prefect_api: None, tmp_path: Path) -> None:
    with serve_process(tmp_path, "split", archive, "--serve-training") as (client, deployment_id, _):
        params = {"request": {**REQUEST, "training_data_url": str(archive), "rank": 16}}
        r = create_run(client, deployment_id, params)
        assert r.status_code == 201, r.text
        run = wait_final(client, r.json()["id"])
        assert run["state"]["type"] == "COMPLETED", run["state"]["message"]
        assert result_artifact(client, run["id"])["billable_units"] == 100
        children = client.post("/flow_runs/filter", json={"flow_runs": {"parent_flow_run_id": {"any_": [run["id"]]}}})
        trained = [c for c in children.json() if c["deployment_id"] != deployment_id]
        assert len(trained) == 1 and trained[0]["state"]["type"] == "COMPLETED"
        deployment = client.get(f"/deployments/{trained[0]['deployment_id']}").json()
        assert deployment["name"] == "split-train"
