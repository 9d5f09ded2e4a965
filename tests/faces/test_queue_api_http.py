"""The queue API's protocol edges over plain HTTP, against a real Prefect API and a registered (unserved) deployment,
so submitted runs wait in the queue: keys, app paths, ids, another key's requests, body size, bad JSON, cancel of a
waiting run, and the signed download links. The helpers here also start the service for test_queue_api_fal.py."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import re
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from queue_api.auth import key_digest, owner_tag
from queue_api.urls import FileSigner
from tests.support.loopback import free_port

EXE = Path(sys.executable).with_name("extend-suffix")
APP = "fal-ai/ltx23-trainer-v2"
ENDPOINT = f"{APP}/extend-suffix"
KEY_A, KEY_B = "key-a-" + "1" * 20, "key-b-" + "2" * 20


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and localhost), its own issuer, so a client can trust exactly it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@contextlib.contextmanager
def api_process(
    root: Path,
    deployment: str,
    *,
    tls: tuple[Path, Path] | None = None,
    env: dict[str, str] | None = None,
    port: int | None = None,
) -> Iterator[str]:
    """`extend-suffix api` in its own process on loopback, pointed at the test's Prefect API; yields its base URL."""
    from prefect.settings import PREFECT_API_URL

    port = port or free_port()
    args = [str(EXE), "api", "--host", "127.0.0.1", "--port", str(port)]
    if tls:
        args += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
    full_env = {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "EXTEND_SUFFIX_API_KEYS": f"{key_digest(KEY_A)},{key_digest(KEY_B)}",
        "EXTEND_SUFFIX_API_DEPLOYMENT": deployment,
        **(env or {}),
    }
    log_path = root / f"api-{port}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(args, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log_path.read_text()
            try:
                httpx.get(f"{base}/", verify=ssl.create_default_context(cafile=tls[0]) if tls else True, timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the API never started:\n" + log_path.read_text()
                time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def flow_run_count() -> int:
    from prefect.settings import PREFECT_API_URL

    return httpx.post(f"{PREFECT_API_URL.value()}/flow_runs/count", json={}, timeout=30).json()


def prefect_run(run_id: str) -> dict:
    from prefect.settings import PREFECT_API_URL

    return httpx.get(f"{PREFECT_API_URL.value()}/flow_runs/{run_id}", timeout=30).json()


def key(k: str) -> dict[str, str]:
    return {"Authorization": f"Key {k}"}


REQUEST = {"training_data_url": "https://example.com/clips.zip", "number_of_steps": 100, "rank": 8}


@pytest.fixture(scope="module")
def api(prefect_api: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """The API in front of a registered deployment that nothing serves: every submitted run waits, IN_QUEUE."""
    from flows.extend_suffix import extend_suffix

    extend_suffix.to_deployment(name="queue-http").apply()
    root = tmp_path_factory.mktemp("queue-http")
    with (
        api_process(root, "extend-suffix/queue-http", env={"EXTEND_SUFFIX_API_MAX_BODY": "4096"}) as base,
        httpx.Client(base_url=base, timeout=60) as client,
    ):
        yield client


def test_a_missing_or_wrong_key_is_401_and_creates_no_run(api: httpx.Client) -> None:
    before = flow_run_count()
    for headers in ({}, {"Authorization": "Bearer " + KEY_A}, key("wrong"), {"Authorization": "Key"}):
        r = api.post(f"/{ENDPOINT}", json=REQUEST, headers=headers)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Key", r.text
    assert api.get(f"/{APP}/requests/{uuid.uuid4()}/status").status_code == 401
    assert flow_run_count() == before


def test_an_unknown_app_path_is_404_and_creates_no_run(api: httpx.Client) -> None:
    before = flow_run_count()
    for path in ("fal-ai/other-app/extend-suffix", "fal-ai/ltx23-trainer-v2/other-endpoint", "x/ltx23-trainer-v2/e"):
        r = api.post(f"/{path}", json=REQUEST, headers=key(KEY_A))
        assert r.status_code == 404 and "fal-ai/ltx23-trainer-v2/extend-suffix" in r.json()["detail"], r.text
    rid = uuid.uuid4()
    assert api.get(f"/fal-ai/other-app/requests/{rid}/status", headers=key(KEY_A)).status_code == 404
    assert api.put(f"/fal-ai/other-app/requests/{rid}/cancel", headers=key(KEY_A)).status_code == 404
    assert api.get(f"/{APP}/requests", headers=key(KEY_A)).status_code in (404, 405)
    assert flow_run_count() == before


def test_an_unknown_id_is_404_and_a_malformed_id_is_the_422_body(api: httpx.Client) -> None:
    rid = uuid.uuid4()
    for method, path in (("GET", "/status"), ("GET", ""), ("PUT", "/cancel")):
        r = api.request(method, f"/{APP}/requests/{rid}{path}", headers=key(KEY_A))
        assert r.status_code == 404 and str(rid) in r.json()["detail"]
    for bad in ("not-a-uuid", "{" + str(rid) + "}", str(rid).replace("-", ""), "1" * 200):
        r = api.get(f"/{APP}/requests/{bad}/status", headers=key(KEY_A))
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["detail"][0]["loc"] == ["path", "request_id"] and r.json()["status"] == 422


def test_a_key_sees_only_its_own_requests_and_cancels_a_waiting_one(api: httpx.Client) -> None:
    r = api.post(f"/{ENDPOINT}", json=REQUEST, headers=key(KEY_A))
    assert r.status_code == 200, r.text
    sub = r.json()
    rid = sub["request_id"]
    assert str(uuid.UUID(rid)) == rid and r.headers["x-fal-request-id"] == rid
    assert sub["status_url"] == f"{str(api.base_url).rstrip('/')}/{APP}/requests/{rid}/status"
    assert sub["cancel_url"] == f"{str(api.base_url).rstrip('/')}/{APP}/requests/{rid}/cancel"
    assert sub["response_url"] == f"{str(api.base_url).rstrip('/')}/{APP}/requests/{rid}"
    run = prefect_run(rid)  # the request id is the Prefect flow run's id, tagged with the key that made it
    assert run["state"]["type"] == "SCHEDULED" and owner_tag(key_digest(KEY_A)) in run["tags"]
    assert owner_tag(key_digest(KEY_B)) not in run["tags"]
    assert run["parameters"]["request"]["rank"] == 8

    status = api.get(sub["status_url"], params={"logs": "true"}, headers=key(KEY_A)).json()
    assert status["status"] == "IN_QUEUE" and isinstance(status["queue_position"], int) and status["logs"] == []
    # The URL form with the endpoint answers the same.
    assert api.get(f"/{ENDPOINT}/requests/{rid}/status", headers=key(KEY_A)).json()["status"] == "IN_QUEUE"
    assert api.get(sub["response_url"], headers=key(KEY_A)).status_code == 400  # no result yet

    for method, url in (("GET", sub["status_url"]), ("GET", sub["response_url"]), ("PUT", sub["cancel_url"])):
        r = api.request(method, url, headers=key(KEY_B))
        assert r.status_code == 404, (method, url, r.text)
    assert prefect_run(rid)["state"]["type"] == "SCHEDULED"  # B's cancel touched nothing

    r = api.put(f"/{ENDPOINT}/requests/{rid}/cancel", headers=key(KEY_A))
    assert r.status_code == 202 and r.json() == {"status": "CANCELLATION_REQUESTED"}
    assert prefect_run(rid)["state"]["type"] == "CANCELLED"
    status = api.get(sub["status_url"], headers=key(KEY_A)).json()
    assert status["status"] == "COMPLETED" and status["error_type"] == "request_cancelled" and status["logs"] is None
    assert api.get(sub["response_url"], headers=key(KEY_A)).status_code == 400
    r = api.put(sub["cancel_url"], headers=key(KEY_A))
    assert r.status_code == 400 and r.json() == {"status": "ALREADY_COMPLETED"}


def test_two_waiting_requests_have_queue_positions_in_submission_order(api: httpx.Client) -> None:
    ids = [api.post(f"/{ENDPOINT}", json=REQUEST, headers=key(k)).json()["request_id"] for k in (KEY_A, KEY_B)]
    first = api.get(f"/{APP}/requests/{ids[0]}/status", headers=key(KEY_A)).json()["queue_position"]
    second = api.get(f"/{APP}/requests/{ids[1]}/status", headers=key(KEY_B)).json()["queue_position"]
    assert second == first + 1
    for rid, k in zip(ids, (KEY_A, KEY_B), strict=True):
        assert api.put(f"/{APP}/requests/{rid}/cancel", headers=key(k)).status_code == 202


def test_an_oversized_body_is_413_and_creates_no_run(api: httpx.Client) -> None:
    before = flow_run_count()
    big = {**REQUEST, "trigger_phrase": "x" * 5000}  # the cap is 4096 bytes here
    r = api.post(f"/{ENDPOINT}", json=big, headers=key(KEY_A))
    assert r.status_code == 413 and "4096" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the size is counted as the body arrives
        yield b'{"training_data_url": "https://example.com/a.zip", "trigger_phrase": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    r = api.post(f"/{ENDPOINT}", content=chunks(), headers={**key(KEY_A), "content-type": "application/json"})
    assert r.status_code == 413
    assert flow_run_count() == before


def test_a_bad_request_is_the_same_422_body_and_creates_no_run(api: httpx.Client) -> None:
    before = flow_run_count()
    r = api.post(f"/{ENDPOINT}", content=b"{not json", headers=key(KEY_A))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body"]
    assert r.json()["detail"][0]["type"] == "json_invalid"
    r = api.post(f"/{ENDPOINT}", json={"rank": 7, "conditioning_frames": 12}, headers=key(KEY_A))
    assert r.status_code == 422
    locs = {tuple(d["loc"]) for d in r.json()["detail"]}
    assert {("body", "training_data_url"), ("body", "rank"), ("body", "conditioning_frames")} <= locs
    # A served API reads no local files, like a served deployment.
    r = api.post(f"/{ENDPOINT}", json={**REQUEST, "training_data_url": "/etc/passwd"}, headers=key(KEY_A))
    assert r.status_code == 422 and "local paths are not allowed" in r.json()["detail"][0]["msg"]
    assert flow_run_count() == before


def test_a_download_token_names_one_file_under_the_output_root_until_it_expires(tmp_path: Path) -> None:
    import base64
    import json

    from queue_api.urls import _b64, download_url

    root = tmp_path / "outputs"
    (root / "k").mkdir(parents=True)
    lora = root / "k" / "lora.safetensors"
    lora.write_bytes(b"weights")
    outside = tmp_path / "secret.txt"
    outside.write_text("no")
    signer = FileSigner("s3cret", ttl_s=60, output_root=str(root))
    token = signer.token(lora, now=1000.0)
    payload, mac = token.split(".")
    assert json.loads(base64.urlsafe_b64decode(payload + "==")) == {"p": "k/lora.safetensors", "e": 1060}
    assert signer.path(token, now=1059.0) == lora.resolve()
    assert signer.path(token, now=1061.0) is None  # expired
    assert signer.path(f"{payload}.{mac[:-2]}AA", now=1000.0) is None  # tampered signature
    assert FileSigner("other", 60, str(root)).path(token, now=1000.0) is None  # another server's secret
    with pytest.raises(ValueError):
        signer.token(root / "k" / ".." / ".." / "secret.txt")  # no token is minted outside the root
    # Even a correctly signed token cannot climb out of the root.
    escape = json.dumps({"p": "../secret.txt", "e": 2000}, separators=(",", ":")).encode()
    forged = f"{base64.urlsafe_b64encode(escape).rstrip(b'=').decode()}.{_b64(signer._mac(escape))}"
    assert signer.path(forged, now=1000.0) is None
    url = download_url(lora.as_uri(), "https://h:1/", signer)
    assert url.startswith("https://h:1/files/") and url.endswith("/lora.safetensors")
    assert download_url(outside.as_uri(), "https://h:1/", signer) is None  # not ours to serve: no link, no path


def test_an_invalid_download_link_is_404(api: httpx.Client) -> None:
    r = api.get("/files/abc.def/lora.safetensors")
    assert r.status_code == 404 and "invalid or has expired" in r.json()["detail"]


def test_an_s3_output_becomes_a_presigned_url_that_downloads_it(s3_bucket: str, tmp_path: Path) -> None:
    from ltxcore.store.fs import filesystem
    from queue_api.urls import downloadable

    fs, path = filesystem(f"{s3_bucket}/outputs/k/lora.safetensors")
    fs.pipe_file(path, b"lora bytes")
    signer = FileSigner("s3cret", ttl_s=600, output_root=str(tmp_path))
    entry = {"url": f"{s3_bucket}/outputs/k/lora.safetensors", "file_name": "lora.safetensors", "file_size": 10}
    result = downloadable({"lora_file": entry, "billable_units": 100}, "https://api.example", signer)
    url = result["lora_file"]["url"]
    assert url.startswith(os.environ["EXTEND_SUFFIX_S3_ENDPOINT"] + "/")
    expires = int(re.search(r"Expires=(\d+)", url).group(1))
    assert abs(expires - (time.time() + 600)) < 60  # the link lives for the configured TTL
    assert httpx.get(url).content == b"lora bytes"
    assert "Signature=" in url and "AWSAccessKeyId=test" in url  # (moto serves it without checking the signature)
    assert result["lora_file"] == {**entry, "url": url} and result["billable_units"] == 100


def test_the_api_refuses_to_start_without_keys_and_says_why(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXTEND_SUFFIX_API_KEYS")}
    out = subprocess.run([str(EXE), "api", "--port", "1"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "no API keys configured" in out.stderr and "Traceback" not in out.stderr
    env["EXTEND_SUFFIX_API_KEYS"] = "not-a-digest"
    out = subprocess.run([str(EXE), "api", "--port", "1"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "sha256 hex digests" in out.stderr
