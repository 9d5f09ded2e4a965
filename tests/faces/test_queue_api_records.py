"""What a run leaves behind reaches clients escaped, generic and downloadable: hostile zip entry names in a
rejection, its log lines and its Markdown; a crashed run's state message with server paths; outputs outside the
output root. The runs are made directly in Prefect with a key's tag (as anyone who can reach the Prefect API can:
it must stay private), then read through a live API. Also: every route carries the key and app-path checks, and the
settings that must be right refuse to start."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from prefect.states import State

from ltxcore.errors import RequestRejected
from ltxcore.job.rejection import rejection_body, rejection_markdown, rejection_message
from queue_api.auth import key_digest, owner_tag
from tests.faces.test_queue_api_http import APP, EXE, KEY_A, KEY_B, REQUEST, api_process, key

HOSTILE = "x```json\x1b[2J\nINFO fake line.mp4"  # ends a Markdown fence early, clears a terminal, forges a log line


@pytest.fixture(scope="module")
def records(prefect_api: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Path]]:
    from flows.extend_suffix import extend_suffix

    extend_suffix.to_deployment(name="queue-records").apply()
    root = tmp_path_factory.mktemp("queue-records")
    env = {"EXTEND_SUFFIX_OUTPUT_ROOT": str(root / "out")}
    with (
        api_process(root, "extend-suffix/queue-records", env=env) as base,
        httpx.Client(base_url=base, timeout=60) as client,
    ):
        yield client, root / "out"


def ended_run(state: State, artifacts: dict[str, str], logs: tuple[str, ...] = ()) -> str:
    """A run of the deployment tagged as KEY_A's, with these artifacts (key -> data) and log lines, set to `state`."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import ArtifactCreate, LogCreate

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("extend-suffix/queue-records")
        run = client.create_flow_run_from_deployment(
            deployment.id, parameters={"request": REQUEST}, tags=[owner_tag(key_digest(KEY_A))]
        )
        for artifact_key, data in artifacts.items():
            kind = "json" if artifact_key.endswith("-data") else "markdown"
            client.create_artifact(ArtifactCreate(key=artifact_key, type=kind, data=data, flow_run_id=run.id))
        # The flow's own last line, as a finished run writes it: the API waits for it before saying COMPLETED.
        lines = [*logs, f"Finished in state {state.name}()"]
        now = datetime.now(UTC)
        client.create_logs(
            [
                LogCreate(
                    name="flow", level=20, message=m, timestamp=now + timedelta(milliseconds=i), flow_run_id=run.id
                )
                for i, m in enumerate(lines)
            ]
        )
        client.set_flow_run_state(run.id, state, force=True)
        return str(run.id)


def hostile_rejection() -> RequestRejected:
    return RequestRejected.one(
        ("body", "training_data_url", HOSTILE), f"archive entry {HOSTILE} is a symbolic link", "unsafe_archive"
    )


def test_a_rejection_naming_a_hostile_entry_reaches_state_logs_and_clients_escaped(records: tuple) -> None:
    from prefect.states import Failed

    api, _ = records
    exc = hostile_rejection()
    message = rejection_message(exc)
    assert "\x1b" not in message and "\n" not in message and "\\x1b[2J\\nINFO fake line" in message
    rid = ended_run(
        Failed(message=message),
        {"extend-suffix-result-data": json.dumps(rejection_body(exc))},
        logs=[f"skipped {HOSTILE}"],
    )
    status = api.get(f"/{APP}/requests/{rid}/status", params={"logs": 1}, headers=key(KEY_A))
    assert status.status_code == 200 and status.json().get("error_type") == "request_rejected", status.text
    error = status.json()["error"]
    assert "\x1b" not in error and "\n" not in error and "\\x1b[2J\\nINFO fake line" in error
    assert status.json()["logs"][0]["message"] == "skipped x```json\\x1b[2J\\nINFO fake line.mp4"
    result = api.get(f"/{APP}/requests/{rid}", headers=key(KEY_A))
    assert result.status_code == 422 and result.json() == rejection_body(exc)
    assert result.json()["detail"][0]["loc"] == ["body", "training_data_url", "x```json\\x1b[2J\\nINFO fake line.mp4"]


def test_a_run_recorded_as_markdown_only_still_answers_its_422_whatever_its_entry_names(records: tuple) -> None:
    from prefect.states import Failed

    api, _ = records
    exc = hostile_rejection()
    markdown = rejection_markdown(exc).replace("\\x1b[2J\\n", "\n```json\n")  # as written before escaping
    rid = ended_run(Failed(message="Request rejected"), {"extend-suffix-result": markdown})
    for _ in range(3):  # every poll
        assert api.get(f"/{APP}/requests/{rid}/status", headers=key(KEY_A)).json()["error_type"] == "request_rejected"
        r = api.get(f"/{APP}/requests/{rid}", headers=key(KEY_A))
        assert r.status_code == 422 and r.json()["billable_units"] == 0


def test_a_crashed_run_tells_the_client_nothing_of_the_server(records: tuple) -> None:
    from prefect.states import Crashed

    api, _ = records
    rid = ended_run(Crashed(message="Execution was aborted: /srv/worker/secret/path.py line 9: KilledWorker"), {})
    expected = f"the job failed (Crashed); quote request {rid} to the operator"
    status = api.get(f"/{APP}/requests/{rid}/status", headers=key(KEY_A)).json()
    assert status["error"] == expected and status["error_type"] == "job_failed"
    r = api.get(f"/{APP}/requests/{rid}", headers=key(KEY_A))
    assert r.status_code == 500 and r.json() == {"detail": expected}


def test_every_output_url_is_a_signed_link_of_the_api_or_null(records: tuple) -> None:
    from prefect.states import Completed

    api, out = records
    (out / "run").mkdir(parents=True)
    for name in ("lora.safetensors", "best.safetensors", "config.json"):
        (out / "run" / name).write_bytes(b"x" * 10)

    def entry(url: str) -> dict:
        return {"url": url, "file_name": Path(url).name, "file_size": 10, "content_type": "application/octet-stream"}

    result = {
        "lora_file": entry((out / "run" / "lora.safetensors").as_uri()),
        "best_lora_file": entry((out / "run" / "best.safetensors").as_uri()),
        "config_file": entry("/elsewhere/on/the/worker/config.json"),  # not under this API's output root
        "billable_units": 100,
    }
    rid = ended_run(Completed(), {"extend-suffix-result-data": json.dumps(result)})
    r = api.get(f"/{APP}/requests/{rid}", headers=key(KEY_A))
    assert r.status_code == 200 and "file://" not in r.text and "/elsewhere" not in r.text and str(out) not in r.text
    body = r.json()
    base = str(api.base_url).rstrip("/")
    for name in ("lora_file", "best_lora_file"):
        assert body[name]["url"].startswith(f"{base}/files/")
        assert httpx.get(body[name]["url"]).content == b"x" * 10
    assert body["config_file"]["url"] is None and body["billable_units"] == 100


def test_a_run_tagged_in_prefect_is_that_keys_and_no_one_elses(records: tuple) -> None:
    from prefect.states import Cancelled

    api, _ = records
    rid = ended_run(Cancelled(), {})
    assert api.get(f"/{APP}/requests/{rid}/status", headers=key(KEY_A)).status_code == 200
    assert api.get(f"/{APP}/requests/{rid}/status", headers=key(KEY_B)).status_code == 404
    assert str(UUID(rid)) == rid


def test_every_queue_route_checks_the_key_then_the_app_path_and_only_downloads_do_not() -> None:
    from fastapi.routing import APIRoute

    from queue_api.app import create_app
    from queue_api.settings import ApiSettings

    settings = ApiSettings(key_digests=frozenset({key_digest(KEY_A)}), url_secret="s" * 32, public_url="https://a.b")
    app = create_app(settings)
    assert len(app.routes) == len(app.state.routers)  # nothing is mounted but the routers
    routes = [r for router in app.state.routers for r in router.routes]
    assert all(isinstance(r, APIRoute) for r in routes)
    checks = {(tuple(sorted(r.methods)), r.path): [d.call.__name__ for d in r.dependant.dependencies] for r in routes}
    downloads = {route: deps for route, deps in checks.items() if route[1].startswith("/files/")}
    assert downloads == {(("GET",), "/files/{token}/{file_name}"): []}
    queue = {route: deps for route, deps in checks.items() if route not in downloads}
    assert len(queue) == 7  # submit, and status, result and cancel with and without the endpoint
    assert all(deps[:2] == ["caller", "served_app"] for deps in queue.values()), queue


@pytest.mark.parametrize(
    ("args", "extra", "says"),
    [
        ([], {"EXTEND_SUFFIX_API_URL_SECRET": "short"}, "at least 32 characters"),
        (["--host", "0.0.0.0"], {}, "set EXTEND_SUFFIX_API_PUBLIC_URL"),
        ([], {"EXTEND_SUFFIX_API_PUBLIC_URL": "ftp://x"}, "must be an http(s) base URL"),
    ],
)
def test_the_api_refuses_to_start_with_an_unsafe_setting(args: list[str], extra: dict, says: str) -> None:
    env = {**os.environ, "EXTEND_SUFFIX_API_KEYS": key_digest(KEY_A), **extra}
    out = subprocess.run([str(EXE), "api", "--port", "1", *args], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and says in out.stderr and "Traceback" not in out.stderr, out.stderr
