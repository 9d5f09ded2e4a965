"""fal's own client (`fal-client` from the registry) trains a LoRA on our server: the queue API over TLS on loopback
(a certificate made here, trusted through SSL_CERT_FILE), in front of a served deployment of the tiny job on a real
Prefect API. Submit + status with logs + result, subscribe with logs, cancel of a running job, a bad request and a
wrong key, all through the client's public calls."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from safetensors.torch import load as load_safetensors

from ltxcore.errors import TOO_SHORT_MESSAGE
from ltxcore.job.settings import JobSettings
from ltxcore.media.synth import make_demo_archive
from queue_api.auth import key_digest, owner_tag
from tests.faces.test_queue_api_http import (
    APP,
    ENDPOINT,
    EXE,
    KEY_A,
    api_process,
    flow_run_count,
    prefect_run,
    self_signed_cert,
)
from tests.support.loopback import free_port

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def served_deployment(root: Path, name: str) -> Iterator[None]:
    """`extend-suffix serve` of the tiny job in its own process, one run at a time, until the deployment exists."""
    from prefect.settings import PREFECT_API_URL

    settings = JobSettings(
        work_root=str(root / "work"),
        output_root=str(root / "out"),
        allow_private_hosts=True,  # the archive is served over HTTP on loopback
        bucket_override=(64, 64),
        trainer={"checkpoint_every": 25, "validate_every": 50},
    )
    env = {**os.environ, **settings.to_env(), "PREFECT_API_URL": PREFECT_API_URL.value()}
    env["PREFECT_RUNNER_POLL_FREQUENCY"] = "1"
    log_path = root / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([str(EXE), "serve", "--name", name], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"{PREFECT_API_URL.value()}/deployments/name/extend-suffix/{name}"
        deadline = time.monotonic() + 120
        while httpx.get(url, timeout=30).status_code != 200:
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.5)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def fal(prefect_api: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, Path]]:
    """(fal_client module, the archive's http URL, the output root) with the client aimed at our API over TLS."""
    root = tmp_path_factory.mktemp("queue-fal")
    archive, _ = make_demo_archive(root / "data", clips=3, seconds=1.5, size=(96, 96), audio=False)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(archive.parent))
    files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=files.serve_forever, daemon=True).start()
    cert, key = self_signed_cert(root)
    port = free_port()
    with (
        pytest.MonkeyPatch.context() as env,
        served_deployment(root, "queue-fal"),
        api_process(
            root,
            "extend-suffix/queue-fal",
            tls=(cert, key),
            env={"EXTEND_SUFFIX_OUTPUT_ROOT": str(root / "out")},
            port=port,
        ),
    ):
        # The client's one setting for where the queue lives (read when it is imported), and the CA it trusts.
        env.setenv("FAL_QUEUE_RUN_HOST", f"127.0.0.1:{port}")
        env.setenv("SSL_CERT_FILE", str(cert))
        import fal_client

        queue_url = fal_client.client.QUEUE_URL_FORMAT
        assert queue_url == f"https://127.0.0.1:{port}/", "fal_client was imported before this fixture"
        yield fal_client, f"http://127.0.0.1:{files.server_address[1]}/{archive.name}", root / "out"
    files.shutdown()


REQUEST = {"number_of_steps": 100, "number_of_frames": 25, "rank": 8}


def download(url: str) -> bytes:
    r = httpx.get(url, timeout=60)  # verified against SSL_CERT_FILE, and with no key: the link is the authority
    assert r.status_code == 200, r.text
    return r.content


def test_fal_client_submit_status_with_logs_and_result_trains_the_tiny_job(fal: tuple) -> None:
    fal_client, archive_url, out_root = fal
    client = fal_client.SyncClient(key=KEY_A)
    handle = client.submit(ENDPOINT, {**REQUEST, "training_data_url": archive_url})
    run = prefect_run(handle.request_id)  # the request id is the Prefect flow run
    assert run["id"] == handle.request_id and owner_tag(key_digest(KEY_A)) in run["tags"]

    seen: list[Any] = []
    deadline = time.monotonic() + 900
    while not isinstance(status := client.status(ENDPOINT, handle.request_id, with_logs=True), fal_client.Completed):
        assert isinstance(status, fal_client.Queued | fal_client.InProgress), status
        seen.append(status)
        assert time.monotonic() < deadline, "the run never completed"
        time.sleep(1)
    in_progress = [s for s in seen if isinstance(s, fal_client.InProgress)]
    assert in_progress, seen
    assert status.error is None and status.metrics["inference_time"] > 0
    messages = [log["message"] for log in status.logs]
    assert len(messages) >= len(in_progress[-1].logs) > 0  # logs grow while it runs, all there at the end
    assert any(m.startswith("Beginning flow run") for m in messages)
    assert "[fetch-archive] Finished in state Completed()" in messages
    assert any(re.match(r"\[train-lora\] \d+/100 loss \d", m) for m in messages), messages

    result = client.result(ENDPOINT, handle.request_id)
    assert prefect_run(handle.request_id)["state"]["type"] == "COMPLETED"
    assert result["billable_units"] == 100
    lora = result["lora_file"]
    assert lora["file_name"] == "lora.safetensors" and lora["url"].startswith("https://127.0.0.1:")
    data = download(lora["url"])
    assert len(data) == lora["file_size"]
    published = next(out_root.rglob("lora.safetensors"))
    assert data == published.read_bytes() and len(load_safetensors(data)) > 8
    config = download(result["config_file"]["url"])
    assert len(config) == result["config_file"]["file_size"] and isinstance(json.loads(config), dict)


def test_fal_client_subscribe_with_logs_returns_the_result(fal: tuple) -> None:
    fal_client, archive_url, _ = fal
    updates: list[Any] = []
    enqueued: list[str] = []
    result = fal_client.SyncClient(key=KEY_A).subscribe(
        ENDPOINT,
        {**REQUEST, "training_data_url": archive_url},
        with_logs=True,
        on_enqueue=enqueued.append,
        on_queue_update=updates.append,
        interval=0.5,
    )
    assert len(enqueued) == 1 and prefect_run(enqueued[0])["state"]["type"] == "COMPLETED"
    # This request trained earlier in the module, so every stage is Cached and the run may be RUNNING for less than
    # one poll: IN_PROGRESS is asserted by the submit/status test; here every update is a status the client knows.
    assert all(isinstance(u, fal_client.Queued | fal_client.InProgress | fal_client.Completed) for u in updates)
    # with_logs reached the server, and COMPLETED waits for the last lines (they reach Prefect in batches, after the
    # final state): the last update holds the run's whole log, from the flow's first lines to its own last.
    assert isinstance(updates[-1], fal_client.Completed)
    messages = [log["message"] for log in updates[-1].logs]
    assert any(m.startswith("Beginning flow run") for m in messages[:3]), messages
    assert messages[-1] == "Finished in state Completed()", messages
    assert result["billable_units"] == 100 and result["lora_file"]["file_size"] == len(
        download(result["lora_file"]["url"])
    )


def test_fal_client_gets_the_422_body_of_a_run_that_failed_on_the_users_mistake(fal: tuple) -> None:
    fal_client, archive_url, _ = fal
    client = fal_client.SyncClient(key=KEY_A)
    # 121 frames at 24 fps need 5 s clips; these are 1.5 s: valid on its face, refused once the clips are probed.
    handle = client.submit(ENDPOINT, {**REQUEST, "number_of_frames": 121, "training_data_url": archive_url})
    deadline = time.monotonic() + 300
    while not isinstance(status := client.status(ENDPOINT, handle.request_id), fal_client.Completed):
        assert time.monotonic() < deadline, "the run never ended"
        time.sleep(1)
    assert status.error_type == "request_rejected" and "too short" in status.error
    assert prefect_run(handle.request_id)["state"]["type"] == "FAILED"
    with pytest.raises(fal_client.FalClientHTTPError) as err:
        client.result(ENDPOINT, handle.request_id)
    assert err.value.status_code == 422
    body = err.value.response.json()
    assert body["billable_units"] == 0 and body["detail"][0]["msg"] == TOO_SHORT_MESSAGE


def test_fal_client_cancel_stops_a_running_job_and_a_queued_one(fal: tuple) -> None:
    fal_client, archive_url, _ = fal
    client = fal_client.SyncClient(key=KEY_A)
    long_job = {**REQUEST, "number_of_steps": 20000, "training_data_url": archive_url}
    running = client.submit(ENDPOINT, long_job)
    deadline = time.monotonic() + 300
    while not isinstance(client.status(ENDPOINT, running.request_id), fal_client.InProgress):
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.5)
    assert prefect_run(running.request_id)["state"]["type"] == "RUNNING"

    queued = client.submit(ENDPOINT, {**long_job, "rank": 16})  # one run at a time: this one waits
    assert client.status(ENDPOINT, queued.request_id) == fal_client.Queued(position=0)
    queued.cancel()
    assert prefect_run(queued.request_id)["state"]["type"] == "CANCELLED"

    client.cancel(ENDPOINT, running.request_id)
    deadline = time.monotonic() + 120
    while (state := prefect_run(running.request_id)["state"]["type"]) != "CANCELLED":
        assert state in ("RUNNING", "CANCELLING") and time.monotonic() < deadline, state
        time.sleep(0.5)
    status = client.status(ENDPOINT, running.request_id, with_logs=True)
    assert isinstance(status, fal_client.Completed) and status.error_type == "request_cancelled"
    with pytest.raises(fal_client.FalClientHTTPError) as err:
        client.result(ENDPOINT, running.request_id)
    assert err.value.status_code == 400 and "cancelled" in err.value.message
    with pytest.raises(fal_client.FalClientHTTPError) as err:
        client.cancel(ENDPOINT, running.request_id)
    assert err.value.status_code == 400


def test_fal_client_sees_a_bad_request_as_its_error_with_the_422_detail(fal: tuple) -> None:
    fal_client, archive_url, _ = fal
    before = flow_run_count()
    with pytest.raises(fal_client.FalClientHTTPError) as err:
        fal_client.SyncClient(key=KEY_A).submit(ENDPOINT, {"training_data_url": archive_url, "conditioning_frames": 12})
    assert err.value.status_code == 422
    detail = err.value.message  # the client hands over the body's `detail`
    assert detail[0]["loc"] == ["body", "conditioning_frames"] and "multiple of 8" in detail[0]["msg"]
    assert flow_run_count() == before


def test_fal_client_with_a_wrong_key_is_refused_and_nothing_is_created(fal: tuple) -> None:
    fal_client, archive_url, _ = fal
    before = flow_run_count()
    with pytest.raises(fal_client.FalClientHTTPError) as err:
        fal_client.SyncClient(key="not-a-key").submit(ENDPOINT, {**REQUEST, "training_data_url": archive_url})
    assert err.value.status_code == 401 and "API key" in err.value.message
    with pytest.raises(fal_client.FalClientHTTPError) as err:
        fal_client.SyncClient(key="not-a-key").status(APP, "6f1c1f3c-7a4b-4a52-9a0e-0c3d2f0e9b11")
    assert err.value.status_code == 401
    assert flow_run_count() == before
