"""fetch against hostile servers and URLs on 127.0.0.1: stacked Content-Encodings, control characters and overlong
URLs, s3:// without credentials, a server that trickles. Each is a 422 at the URL's field, and nothing is left."""

from __future__ import annotations

import gzip
import http.server
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from ltxcore.errors import RequestRejected
from ltxcore.intake import fetch as fetch_mod
from ltxcore.intake.content_encoding import MAX_CODINGS
from ltxcore.intake.fetch import fetch

LOC = ("body", "training_data_url")
VAL_LOC = ("body", "validation", 0, "video_url")
BODY = b"PK" + bytes(range(256)) * 64


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/coded/"):
            n = int(self.path.split("/")[2])
            body = BODY
            for _ in range(min(n, 8)):  # past 8 the header alone is the attack; the body stays small
                body = gzip.compress(body)
            self._head(200, len(body), {"Content-Encoding": ", ".join(["gzip"] * n)})
            self.wfile.write(body)
        elif self.path == "/trickle.zip":  # one byte at a time, each well inside the read timeout
            self._head(200, 1000, {})
            try:
                for _ in range(1000):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.5)
            except OSError:
                pass
        else:
            self._head(404, 0, {})

    def _head(self, status: int, length: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(length))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch_mod, "DOWNLOAD", replace(fetch_mod.DOWNLOAD, delays_s=(0.01,)))


def _rejected(url: str, dest: Path, loc=LOC, **kw) -> RequestRejected:
    with pytest.raises(RequestRejected) as err:
        fetch(url, dest, loc=loc, allow_local=kw.pop("allow_local", False), allow_private_hosts=True, **kw)
    return err.value


def _left(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def test_content_encoding_repeated_thousands_of_times_is_a_422_not_a_recursion_error(server, tmp_path: Path) -> None:
    err = _rejected(f"{server}/coded/5000", tmp_path, loc=VAL_LOC)  # the header alone names gzip 5000 times
    (detail,) = err.details
    assert detail.loc == VAL_LOC and detail.type == "unsupported_encoding"
    assert f"sent with 5000 Content-Encodings; at most {MAX_CODINGS} are decoded" in detail.msg
    assert _left(tmp_path) == []


def test_content_encoding_one_past_the_cap_is_refused_and_up_to_the_cap_decodes(server, tmp_path: Path) -> None:
    err = _rejected(f"{server}/coded/{MAX_CODINGS + 1}", tmp_path / "over")
    assert err.details[0].loc == LOC and err.details[0].type == "unsupported_encoding"
    ref = fetch(f"{server}/coded/{MAX_CODINGS}", tmp_path / "ok", loc=LOC, allow_local=False, allow_private_hosts=True)
    assert Path(ref.path).read_bytes() == BODY


def test_a_crlf_in_the_url_is_refused_before_any_connection_not_fetched_from_a_joined_host(tmp_path: Path) -> None:
    err = _rejected("http://127.0.0.1\r\n.evil/x.zip", tmp_path)
    (detail,) = err.details
    assert detail.loc == LOC and detail.type == "url_invalid"
    assert (
        detail.msg
        == "'http://127.0.0.1\\r\\n.evil/x.zip' contains the control character '\\r' at position 16; a URL has none"
    )
    assert _left(tmp_path) == []


def test_an_overlong_url_is_a_422_in_fetch_not_an_httpx_invalid_url(server, tmp_path: Path) -> None:
    err = _rejected(f"{server}/{'a' * (64 << 10)}.zip", tmp_path, loc=VAL_LOC)
    (detail,) = err.details
    assert detail.loc == VAL_LOC and detail.type == "url_invalid" and "a URL has at most 2048" in detail.msg
    assert len(detail.msg) < 400  # the message quotes the start of the URL, not 64 KiB of it


def test_a_file_url_naming_another_host_is_refused_not_read_locally(tmp_path: Path) -> None:
    src = tmp_path / "data.zip"
    src.write_bytes(BODY)
    err = _rejected(f"file://otherhost{src}", tmp_path / "out", allow_local=True)
    (detail,) = err.details
    assert detail.loc == LOC and detail.type == "url_invalid" and "names the host 'otherhost'" in detail.msg
    ref = fetch(f"file://localhost{src}", tmp_path / "out", loc=LOC, allow_local=True)
    assert Path(ref.path).read_bytes() == BODY


@pytest.fixture()
def fresh_s3fs() -> Iterator[None]:
    from s3fs import S3FileSystem

    S3FileSystem.clear_instance_cache()  # an instance cached with other credentials must not answer
    yield
    S3FileSystem.clear_instance_cache()


def _no_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookup from a test machine


def test_s3_without_credentials_is_a_422_saying_so_not_a_botocore_traceback(
    s3_bucket: str, fresh_s3fs, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_aws_credentials(monkeypatch, tmp_path)
    err = _rejected(f"{s3_bucket}/in/data.zip", tmp_path / "out", loc=VAL_LOC)
    (detail,) = err.details
    assert detail.loc == VAL_LOC and detail.type == "s3_credentials"
    assert detail.msg == f"could not read {s3_bucket}/in/data.zip: no AWS credentials (the deployment provides them)"
    assert _left(tmp_path / "out") == []


class _DenyAll(http.server.BaseHTTPRequestHandler):
    """An S3 endpoint that refuses every request as AWS does for a key without rights."""

    def _deny(self) -> None:
        body = b"<?xml version='1.0'?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = _deny

    def log_message(self, *args: object) -> None:
        pass


def test_s3_access_denied_is_a_422_saying_so(fresh_s3fs, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _DenyAll)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    monkeypatch.setenv("EXTEND_SUFFIX_S3_ENDPOINT", f"http://127.0.0.1:{srv.server_address[1]}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "someone-else")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    try:
        err = _rejected("s3://their-bucket/data.zip", tmp_path)
    finally:
        srv.shutdown()
        srv.server_close()
    (detail,) = err.details
    assert detail.loc == LOC and detail.type == "s3_access_denied"
    assert detail.msg == "could not read s3://their-bucket/data.zip: access denied"


def test_s3_bucket_that_does_not_exist_is_a_422_saying_so(s3_endpoint: str, fresh_s3fs, tmp_path: Path) -> None:
    err = _rejected("s3://no-such-bucket-here/data.zip", tmp_path)
    (detail,) = err.details
    assert detail.loc == LOC and detail.type == "not_found"
    assert detail.msg == "could not read s3://no-such-bucket-here/data.zip: no such bucket or key"


def test_a_server_trickling_a_byte_at_a_time_is_cut_off_at_the_download_deadline(server, tmp_path: Path) -> None:
    start = time.monotonic()
    err = _rejected(f"{server}/trickle.zip", tmp_path, deadline_s=2.0)
    took = time.monotonic() - start
    (detail,) = err.details
    assert detail.loc == LOC and detail.type == "download_timeout"
    assert detail.msg == f"the download of {server}/trickle.zip took longer than 2 s; it is refused"
    assert 2.0 <= took < 6.0  # each byte comes well inside the 30 s read timeout; only the deadline stops it
    assert _left(tmp_path) == []  # the partial file is gone


def test_the_default_download_deadline_is_thirty_minutes() -> None:
    assert fetch_mod.DOWNLOAD_DEADLINE_S == 30 * 60
