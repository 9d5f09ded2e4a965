"""The queue API under one hostile key and a sick Prefect, each attack replayed on a live instance on loopback:
floods of keys, a Prefect that hangs or is down, clients that trickle, a key that submits without end, a forged Host
header and malleable download tokens. Latencies of an unrelated request during an attack are printed (`-s`); the
assertions are on status codes, bodies and counts."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from queue_api.auth import key_digest
from queue_api.urls import FileSigner
from tests.faces.test_queue_api_http import APP, ENDPOINT, KEY_A, KEY_B, REQUEST, api_process, flow_run_count, key
from tests.support.loopback import free_port

KEY_C = "key-c-" + "3" * 20  # this module's own key: its runs-in-progress count starts at 0
SECRET = "s" * 40
RUNS_PER_KEY = 3
ATTACK_KEYS = 5000  # unknown keys in one ~60 KiB body: below the body cap, far above the key cap
CALLS_PER_KEY = 2


def env(**extra: str) -> dict[str, str]:
    keys = ",".join(key_digest(k) for k in (KEY_A, KEY_B, KEY_C))
    return {"EXTEND_SUFFIX_API_KEYS": keys, "EXTEND_SUFFIX_API_URL_SECRET": SECRET, **extra}


@pytest.fixture(scope="module")
def live(prefect_api: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Path]]:
    """(client, output root) of the API in front of a registered deployment that nothing serves."""
    from flows.extend_suffix import extend_suffix

    extend_suffix.to_deployment(name="queue-attacks").apply()
    root = tmp_path_factory.mktemp("queue-attacks")
    settings = env(
        EXTEND_SUFFIX_API_MAX_ERRORS="5",
        EXTEND_SUFFIX_API_RUNS_PER_KEY=str(RUNS_PER_KEY),
        EXTEND_SUFFIX_API_HEADER_TIMEOUT="1",
        EXTEND_SUFFIX_API_BODY_TIMEOUT="1",
        EXTEND_SUFFIX_OUTPUT_ROOT=str(root / "out"),
    )
    with (
        api_process(root, "extend-suffix/queue-attacks", env=settings) as base,
        httpx.Client(base_url=base, timeout=60) as client,
    ):
        yield client, root / "out"


@pytest.fixture(scope="module")
def sick_prefect() -> Iterator[str]:
    """A Prefect API URL on loopback that accepts connections and never answers."""
    held: list[socket.socket] = []
    server = socket.create_server(("127.0.0.1", 0), backlog=256)
    server.settimeout(0.2)
    stop = threading.Event()

    def hold() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/api"
    stop.set()
    thread.join(timeout=5)
    for s in [*held, server]:
        s.close()


@pytest.fixture(scope="module")
def hanging(sick_prefect: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    root = tmp_path_factory.mktemp("queue-hanging")
    settings = env(
        PREFECT_API_URL=sick_prefect,
        EXTEND_SUFFIX_API_PREFECT_TIMEOUT="3",
        EXTEND_SUFFIX_API_PREFECT_CALLS_PER_KEY=str(CALLS_PER_KEY),
    )
    with api_process(root, "extend-suffix/x", env=settings) as base, httpx.Client(base_url=base, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def prefect_down(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    root = tmp_path_factory.mktemp("queue-down")
    settings = env(PREFECT_API_URL=f"http://127.0.0.1:{free_port()}/api", EXTEND_SUFFIX_API_MAX_CONNECTIONS="6")
    with api_process(root, "extend-suffix/x", env=settings) as base, httpx.Client(base_url=base, timeout=60) as c:
        yield c


def during(attack: Callable[[], httpx.Response], times: int, probe: Callable[[], httpx.Response]) -> tuple:
    """Run `attack` `times` at once and `probe` once meanwhile; (attack responses, probe response, probe seconds)."""
    with ThreadPoolExecutor(times + 1) as pool:
        attacks = [pool.submit(attack) for _ in range(times)]
        time.sleep(0.2)  # the attacks are on their way
        start = time.monotonic()
        probed = probe()
        took = time.monotonic() - start
        return [a.result() for a in attacks], probed, took


def unknown_keys(n: int) -> bytes:
    return json.dumps({**REQUEST, **{f"k{i:05d}": 0 for i in range(n)}}).encode()


def test_a_flood_of_unknown_keys_is_one_small_422_and_others_are_answered_meanwhile(live: tuple) -> None:
    api, _ = live
    body = unknown_keys(ATTACK_KEYS)
    assert 50_000 < len(body) < 64 << 10  # under the body cap: the key cap is what refuses it

    def attack() -> httpx.Response:
        return api.post(f"/{ENDPOINT}", content=body, headers=key(KEY_A))

    responses, probed, took = during(attack, 4, lambda: api.get(f"/{APP}/requests/x/status"))
    print(f"\nan unauthenticated poll during 4 submits of {ATTACK_KEYS} unknown keys: {took * 1000:.0f} ms")
    assert probed.status_code == 401
    for r in responses:
        assert r.status_code == 422 and len(r.content) < 1000, len(r.content)
        assert [d["type"] for d in r.json()["detail"]] == ["too_many_keys"]
        assert f"{ATTACK_KEYS + 3} keys" in r.json()["detail"][0]["msg"]  # the request's own three fields too
    # Under the key cap, every unknown key is a mistake, but the body lists 5 and counts the rest.
    r = api.post(f"/{ENDPOINT}", content=unknown_keys(40), headers=key(KEY_A))
    detail = r.json()["detail"]
    assert r.status_code == 422 and len(detail) == 6
    assert detail[-1] == {"loc": ["body"], "msg": "and 35 more mistake(s) not listed", "type": "too_many_errors"}
    r = api.post(f"/{ENDPOINT}", content=b"{" + b" " * (1 << 20) + b"}", headers=key(KEY_A))
    assert r.status_code == 413 and str(64 << 10) in r.json()["detail"]


def test_a_hanging_prefect_is_a_json_503_and_401s_and_downloads_do_not_wait(hanging: httpx.Client) -> None:
    def poll() -> httpx.Response:
        return hanging.get(f"/{APP}/requests/6f1c1f3c-7a4b-4a52-9a0e-0c3d2f0e9b11/status", headers=key(KEY_A))

    def others() -> httpx.Response:
        unauthenticated = hanging.get(f"/{APP}/requests/x/status")
        assert unauthenticated.status_code == 401
        return hanging.get("/files/abcdefgh.abc/lora.safetensors")

    polls, download, took = during(poll, 45, others)
    print(f"\na 401 and a download while 45 polls wait on a hanging Prefect: {took * 1000:.0f} ms")
    assert download.status_code == 404 and download.headers["content-type"] == "application/json"
    assert all(p.status_code == 503 and p.headers["retry-after"] == "5" for p in polls)
    details = [p.json()["detail"] for p in polls]
    waited = [d for d in details if "not answering" in d]
    assert len(waited) >= CALLS_PER_KEY and len(waited) + details.count(
        f"this key has {CALLS_PER_KEY} requests in progress already; retry shortly"
    ) == len(details)
    other_key = hanging.get(f"/{APP}/requests/6f1c1f3c-7a4b-4a52-9a0e-0c3d2f0e9b11", headers=key(KEY_B))
    assert other_key.status_code == 503 and "not answering" in other_key.json()["detail"]


def test_a_prefect_that_is_down_is_a_json_503_on_every_route(prefect_down: httpx.Client) -> None:
    rid = "6f1c1f3c-7a4b-4a52-9a0e-0c3d2f0e9b11"
    for method, path, body in (
        ("POST", f"/{ENDPOINT}", REQUEST),
        ("GET", f"/{APP}/requests/{rid}/status", None),
        ("GET", f"/{APP}/requests/{rid}", None),
        ("PUT", f"/{APP}/requests/{rid}/cancel", None),
    ):
        r = prefect_down.request(method, path, json=body, headers=key(KEY_A))
        assert r.status_code == 503 and r.headers["retry-after"] == "5", (path, r.text)
        assert r.json() == {"detail": "the job queue cannot be reached; retry shortly"}


def test_connections_past_the_limit_are_refused_until_some_close(prefect_down: httpx.Client) -> None:
    port = prefect_down.base_url.port
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(6)]  # the limit is 6
    try:
        with httpx.Client(base_url=prefect_down.base_url, timeout=30) as fresh:
            assert fresh.get(f"/{APP}/requests/x/status").status_code == 503
    finally:
        for s in idle:
            s.close()
    deadline = time.monotonic() + 30  # the server notices the closed sockets on its next loop turn
    while (code := prefect_down.get(f"/{APP}/requests/x/status").status_code) != 401:
        assert code == 503 and time.monotonic() < deadline
        time.sleep(0.2)


def closed_within(sock: socket.socket, send: list[bytes], gap_s: float, limit_s: float) -> tuple[bool, bytes]:
    """Send each piece `gap_s` apart until the server closes the connection; (closed, what it answered)."""
    sock.settimeout(gap_s)
    deadline = time.monotonic() + limit_s
    received = b""
    for piece in [*send, *([b""] * int(limit_s / gap_s))]:
        try:
            if piece:
                sock.sendall(piece)
            data = sock.recv(4096)
            if not data:
                return True, received
            received += data
        except TimeoutError:
            pass
        except (BrokenPipeError, ConnectionResetError):
            return True, received
        if time.monotonic() > deadline:
            break
    return False, received


@pytest.mark.parametrize(
    "pieces",
    [
        [b"GET /fal-ai/ltx23-trainer-v2/requests/x/status HTTP/1.1\r\nHost: a\r\n"],  # a partial header, then nothing
        [bytes([c]) for c in b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"a" * 40],  # headers one byte at a time
        [
            b"POST /fal-ai/ltx23-trainer-v2/extend-suffix HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n"
            + f"Authorization: Key {KEY_A}\r\n\r\n".encode(),
            *[b"{"] * 20,
        ],  # a body trickled a byte at a time
    ],
    ids=["partial-header", "trickled-header", "trickled-body"],
)
def test_a_slow_client_is_closed_after_the_read_timeout(live: tuple, pieces: list[bytes]) -> None:
    api, _ = live
    with socket.create_connection(("127.0.0.1", api.base_url.port)) as sock:
        start = time.monotonic()
        closed, answer = closed_within(sock, pieces, gap_s=0.25, limit_s=15)
        print(f"\nclosed after {time.monotonic() - start:.1f} s (read timeouts: 1 s)")
    assert closed
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:80]


def test_a_key_has_a_bounded_number_of_runs_in_progress(live: tuple) -> None:
    api, _ = live
    ids = []
    for _ in range(RUNS_PER_KEY):
        r = api.post(f"/{ENDPOINT}", json=REQUEST, headers=key(KEY_C))
        assert r.status_code == 200, r.text
        ids.append(r.json()["request_id"])
    before = flow_run_count()
    r = api.post(f"/{ENDPOINT}", json=REQUEST, headers=key(KEY_C))
    assert r.status_code == 429 and r.headers["retry-after"] == "60"
    assert r.json()["detail"] == f"this key has {RUNS_PER_KEY} requests waiting or running; wait for one to end"
    assert flow_run_count() == before
    assert api.post(f"/{ENDPOINT}", json=REQUEST, headers=key(KEY_B)).status_code == 200  # other keys are not held
    assert api.put(f"/{APP}/requests/{ids.pop()}/cancel", headers=key(KEY_C)).status_code == 202
    r = api.post(f"/{ENDPOINT}", json=REQUEST, headers=key(KEY_C))
    assert r.status_code == 200
    for rid in [*ids, r.json()["request_id"]]:
        assert api.put(f"/{APP}/requests/{rid}/cancel", headers=key(KEY_C)).status_code == 202


def test_urls_come_from_the_public_url_never_the_host_header(live: tuple) -> None:
    api, _ = live
    r = api.post(f"/{ENDPOINT}", json=REQUEST, headers={**key(KEY_A), "Host": "evil.example"})
    assert r.status_code == 200
    base = str(api.base_url).rstrip("/")
    body = r.json()
    assert all(body[u].startswith(f"{base}/{APP}/requests/") for u in ("status_url", "response_url", "cancel_url"))
    assert "evil" not in r.text
    assert api.put(body["cancel_url"], headers=key(KEY_A)).status_code == 202


def forged(payload: bytes, signer: FileSigner) -> str:
    encoded = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    return f"{encoded}.{base64.urlsafe_b64encode(signer._mac(payload)).rstrip(b'=').decode()}"


def test_a_download_token_has_one_spelling_and_typed_claims(live: tuple) -> None:
    api, out = live
    (out / "k").mkdir(parents=True, exist_ok=True)
    (out / "k" / "lora.safetensors").write_bytes(b"weights")
    signer = FileSigner(SECRET, 600, str(out))
    token = signer.token(out / "k" / "lora.safetensors")
    assert api.get(f"/files/{token}/lora.safetensors").content == b"weights"
    payload, mac = token.split(".")
    variants = [
        f"{payload[:4]}!~*{payload[4:]}.{mac}",  # characters the decoder would skip
        f"{payload}=.{mac}",  # padding
        f"{payload}.{mac[:-1]}é",  # a non-ASCII MAC
        f"{payload}.{mac}.{mac}",
    ]
    for claims in (
        {"p": ["k"], "e": 2**40},
        {"p": "k/lora.safetensors"},
        {"p": "k/lora.safetensors", "e": "9" * 12},
        {"p": "k/lora.safetensors", "e": True},
        ["k/lora.safetensors", 2**40],
    ):
        variants.append(forged(json.dumps(claims).encode(), signer))  # correctly signed, wrongly typed
    for bad in variants:
        r = api.get(f"/files/{bad}/lora.safetensors")
        assert r.status_code == 404 and r.json()["detail"] == "this download link is invalid or has expired", bad
