"""fetch: http(s) through a real server on 127.0.0.1, s3:// through moto, local paths; SSRF and size refusals."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import ipaddress
import threading
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from ltxcore.errors import RequestRejected
from ltxcore.intake import fetch as fetch_mod
from ltxcore.intake.fetch import fetch
from ltxcore.intake.hosts import forbidden_address, vet_host
from ltxcore.store.fs import filesystem
from tests.support.loopback import free_port

LOC = ("body", "training_data_url")
BODY = bytes(range(256)) * 4096  # 1 MiB


@functools.cache
def _gzip_bomb() -> tuple[str, bytes]:
    return "gzip", gzip.compress(bytes(64 << 20), compresslevel=9)  # 64 MiB of zeros in about 64 KB


_BAD_REDIRECTS = {
    "/port-range.zip": "http://127.0.0.1:99999/data.zip",
    "/port-text.zip": "http://127.0.0.1:ab/x.zip",
    "/bracket.zip": "http://[::1/data.zip",
    "/ftp.zip": "ftp://127.0.0.1/data.zip",
}
_ENCODED = {
    "/gzip-bomb.zip": _gzip_bomb,
    "/gzip.zip": lambda: ("gzip", gzip.compress(BODY)),
    "/deflate.zip": lambda: ("deflate", zlib.compress(BODY)),
    "/twice.zip": lambda: ("gzip, gzip", gzip.compress(gzip.compress(BODY))),
    "/br.zip": lambda: ("br", b"\x1b\x03\x00\xf8\xff\x0f"),
    "/broken-gzip.zip": lambda: ("gzip", b"\x1f\x8b\x08\x00garbage" * 10),
}


class _Server(http.server.ThreadingHTTPServer):
    hits: Counter


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.hits[self.path] += 1
        if self.path == "/data.zip":
            self._send(200, BODY)
        elif self.path == "/flaky.zip" and self.server.hits[self.path] < 3:
            self._send(503, b"busy")
        elif self.path == "/flaky.zip":
            self._send(200, BODY)
        elif self.path == "/moved.zip":
            self._redirect("/data.zip")
        elif self.path in _BAD_REDIRECTS:
            self._redirect(_BAD_REDIRECTS[self.path])
        elif self.path in _ENCODED:
            coding, body = _ENCODED[self.path]()
            self._send(200, body, {"Content-Encoding": coding})
        else:
            self._send(404, b"no")

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[tuple[str, Counter]]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.hits = Counter()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", srv.hits
    srv.shutdown()
    srv.server_close()


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch_mod, "DOWNLOAD", replace(fetch_mod.DOWNLOAD, delays_s=(0.01,)))


def test_http_download_is_streamed_to_a_content_addressed_path(server, tmp_path: Path) -> None:
    base, _ = server
    a = fetch(f"{base}/data.zip", tmp_path, loc=LOC, allow_local=False, allow_private_hosts=True)
    b = fetch(f"{base}/data.zip", tmp_path, loc=LOC, allow_local=False, allow_private_hosts=True)
    assert a == b
    assert Path(a.path).read_bytes() == BODY
    assert a.size == len(BODY) == 1 << 20
    assert a.sha256 == hashlib.sha256(BODY).hexdigest()
    assert a.path.endswith(".zip")
    assert [p.name for p in tmp_path.iterdir()] == [Path(a.path).name]  # no temporary file left behind


def test_http_404_is_a_user_error_naming_the_url(server, tmp_path: Path) -> None:
    base, hits = server
    with pytest.raises(RequestRejected) as err:
        fetch(f"{base}/nope.zip", tmp_path, loc=LOC, allow_local=False, allow_private_hosts=True)
    detail = err.value.details[0]
    assert detail.loc == LOC
    assert f"{base}/nope.zip" in detail.msg and "404" in detail.msg
    assert hits["/nope.zip"] == 1  # a 404 is not transient: no retry


def test_transient_503_is_retried_until_it_succeeds(server, tmp_path: Path) -> None:
    base, hits = server
    ref = fetch(f"{base}/flaky.zip", tmp_path, loc=LOC, allow_local=False, allow_private_hosts=True)
    assert hits["/flaky.zip"] == 3
    assert ref.size == len(BODY)


def test_redirects_are_followed(server, tmp_path: Path) -> None:
    base, hits = server
    ref = fetch(f"{base}/moved.zip", tmp_path, loc=LOC, allow_local=False, allow_private_hosts=True)
    assert ref.sha256 == hashlib.sha256(BODY).hexdigest()
    assert hits["/moved.zip"] == 1 and hits["/data.zip"] == 1


def test_unreachable_host_is_a_user_error_after_retries(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/data.zip"  # nothing listens there
    with pytest.raises(RequestRejected) as err:
        fetch(url, tmp_path, loc=LOC, allow_local=False, allow_private_hosts=True)
    assert err.value.details[0].type == "unreachable"
    assert url in err.value.details[0].msg and f"{fetch_mod.DOWNLOAD.attempts} attempts" in err.value.details[0].msg


def test_download_over_the_size_cap_is_refused_and_leaves_nothing(server, tmp_path: Path) -> None:
    base, _ = server
    with pytest.raises(RequestRejected) as err:
        fetch(f"{base}/data.zip", tmp_path, loc=LOC, allow_local=False, allow_private_hosts=True, max_bytes=1000)
    assert err.value.details[0].type == "too_large"
    assert list(tmp_path.iterdir()) == []


def test_loopback_url_is_refused_without_the_private_hosts_setting(server, tmp_path: Path) -> None:
    base, hits = server
    for url in (f"{base}/data.zip", base.replace("127.0.0.1", "localhost") + "/data.zip"):
        with pytest.raises(RequestRejected) as err:
            fetch(url, tmp_path, loc=LOC, allow_local=False)
        assert err.value.details[0].type == "forbidden_host"
        assert err.value.details[0].loc == LOC
    assert sum(hits.values()) == 0  # refused before any connection
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "ip",
    [
        "10.1.2.3",
        "192.168.0.1",
        "172.16.5.5",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ],
)
def test_private_link_local_and_reserved_addresses_are_refused(ip: str) -> None:
    with pytest.raises(RequestRejected) as err:
        vet_host(ip, 80, LOC, allow_private_hosts=False)
    assert err.value.details[0].type == "forbidden_host"


def test_a_public_address_passes_the_ssrf_check() -> None:
    assert str(vet_host("93.184.216.34", 443, LOC, allow_private_hosts=False)) == "93.184.216.34"


def test_local_paths_need_the_allow_local_setting(tmp_path: Path) -> None:
    src = tmp_path / "in" / "my clips.zip"
    src.parent.mkdir()
    src.write_bytes(b"PK-not-really" * 100)
    with pytest.raises(RequestRejected) as err:
        fetch(str(src), tmp_path / "out", loc=LOC, allow_local=False)
    assert err.value.details[0].type == "url_scheme"
    plain = fetch(str(src), tmp_path / "out", loc=LOC, allow_local=True)
    as_url = fetch(src.as_uri(), tmp_path / "out", loc=LOC, allow_local=True)
    assert plain.size == as_url.size == 1300 and plain.sha256 == as_url.sha256
    with pytest.raises(RequestRejected) as err:
        fetch(str(tmp_path / "missing.zip"), tmp_path / "out", loc=LOC, allow_local=True)
    assert err.value.details[0].type == "not_found"


def test_s3_object_is_fetched_and_a_missing_key_is_a_user_error(s3_bucket: str, tmp_path: Path) -> None:
    fs, path = filesystem(f"{s3_bucket}/in/data.zip")
    fs.pipe(path, BODY)
    ref = fetch(f"{s3_bucket}/in/data.zip", tmp_path, loc=LOC, allow_local=False)
    assert ref.size == len(BODY) and Path(ref.path).read_bytes() == BODY
    with pytest.raises(RequestRejected) as err:
        fetch(f"{s3_bucket}/in/missing.zip", tmp_path, loc=LOC, allow_local=False)
    assert err.value.details[0].type == "not_found" and "missing.zip" in err.value.details[0].msg


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:99999/data.zip",
        "http://127.0.0.1:ab/data.zip",
        "http://127.0.0.1:0/data.zip",
        "http://[::1/data.zip",
        "http://a..b/data.zip",
        "http://" + "x" * 64 + ".com/data.zip",
        "http://exa mple.com/data.zip",
    ],
)
def test_malformed_port_or_host_is_a_user_error_before_any_connection(url: str, tmp_path: Path) -> None:
    with pytest.raises(RequestRejected) as err:
        fetch(url, tmp_path, loc=LOC, allow_local=False, allow_private_hosts=True)
    assert err.value.details[0].loc == LOC and err.value.details[0].type == "url_invalid"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("path", sorted(_BAD_REDIRECTS))
def test_redirect_to_a_malformed_url_is_a_user_error(server, tmp_path: Path, path: str) -> None:
    base, hits = server
    with pytest.raises(RequestRejected) as err:
        fetch(f"{base}{path}", tmp_path, loc=LOC, allow_local=False, allow_private_hosts=True)
    detail = err.value.details[0]
    assert detail.loc == LOC and detail.type == "url_invalid" and "redirects to" in detail.msg
    assert hits[path] == 1 and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("ip", "embedded"),
    [
        ("::127.0.0.1", "127.0.0.1"),  # IPv4-compatible (deprecated, still parsed)
        ("::ffff:10.0.0.1", "10.0.0.1"),  # IPv4-mapped
        ("64:ff9b::7f00:1", "127.0.0.1"),  # NAT64 well-known prefix
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),  # NAT64 to the cloud metadata address
        ("2002:c0a8:101::1", "192.168.1.1"),  # 6to4
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "192.0.2.45"),  # Teredo (RFC 4380's example; client is TEST-NET)
    ],
)
def test_ipv6_forms_embedding_a_private_ipv4_are_judged_by_the_embedded_address(ip: str, embedded: str) -> None:
    with pytest.raises(RequestRejected) as err:
        vet_host(ip, 80, LOC, allow_private_hosts=False)
    assert err.value.details[0].type == "forbidden_host" and f"an IPv6 form of {embedded}" in err.value.details[0].msg


@pytest.mark.parametrize("ip", ["64:ff9b::808:808", "2002:808:808::1", "2606:4700::1111"])
def test_ipv6_forms_of_public_addresses_pass_the_ssrf_check(ip: str) -> None:
    assert forbidden_address(ipaddress.ip_address(ip)) is None
    assert str(vet_host(ip, 443, LOC, allow_private_hosts=False)) == ip


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("s3://key:secret@bucket/data.zip", "credentials"),
        ("s3://Bad_Bucket/data.zip", "invalid bucket name"),
        ("s3://ab/data.zip", "invalid bucket name"),  # under 3 characters
        ("s3://192.168.0.1/data.zip", "invalid bucket name"),  # formatted as an IP address
        ("s3://bucket", "names no object"),
        ("s3://bucket/folder/", "names no object"),
    ],
)
def test_s3_urls_need_a_valid_bucket_a_key_and_no_userinfo(url: str, why: str, tmp_path: Path) -> None:
    with pytest.raises(RequestRejected) as err:
        fetch(url, tmp_path, loc=LOC, allow_local=False)
    assert err.value.details[0].loc == LOC and err.value.details[0].type == "url_invalid"
    assert why in err.value.details[0].msg


@pytest.mark.parametrize("path", ["/gzip.zip", "/deflate.zip", "/twice.zip"])
def test_content_encoded_body_is_decoded_and_hashed_as_decoded(server, tmp_path: Path, path: str) -> None:
    base, _ = server
    ref = fetch(f"{base}{path}", tmp_path, loc=LOC, allow_local=False, allow_private_hosts=True)
    assert ref.size == len(BODY) and ref.sha256 == hashlib.sha256(BODY).hexdigest()


def test_size_cap_counts_decoded_bytes(server, tmp_path: Path) -> None:
    base, _ = server
    assert len(gzip.compress(BODY)) < 20_000  # the transfer is far under the cap...
    with pytest.raises(RequestRejected) as err:  # ...the 1 MiB it decodes to is not
        fetch(f"{base}/gzip.zip", tmp_path, loc=LOC, allow_local=False, allow_private_hosts=True, max_bytes=500_000)
    assert err.value.details[0].type == "too_large" and list(tmp_path.iterdir()) == []


def test_response_inflating_far_past_its_size_is_refused(server, tmp_path: Path) -> None:
    base, _ = server
    sent = len(_gzip_bomb()[1])
    assert sent < 100_000  # 64 MiB of zeros
    with pytest.raises(RequestRejected) as err:
        fetch(f"{base}/gzip-bomb.zip", tmp_path, loc=LOC, allow_local=False, allow_private_hosts=True)
    detail = err.value.details[0]
    assert detail.loc == LOC and detail.type == "too_large" and "compression bomb" in detail.msg
    assert list(tmp_path.iterdir()) == []  # the partial file is gone; at most ~9 MiB were ever decoded


@pytest.mark.parametrize(("path", "kind"), [("/br.zip", "unsupported_encoding"), ("/broken-gzip.zip", "bad_encoding")])
def test_undecodable_content_encoding_is_a_user_error(server, tmp_path: Path, path: str, kind: str) -> None:
    base, _ = server
    with pytest.raises(RequestRejected) as err:
        fetch(f"{base}{path}", tmp_path, loc=LOC, allow_local=False, allow_private_hosts=True)
    assert err.value.details[0].loc == LOC and err.value.details[0].type == kind
    assert list(tmp_path.iterdir()) == []
