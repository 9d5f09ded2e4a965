"""Fetch one input URL to local disk: http(s), s3:// or (where the deployment allows it) a local path.

Whatever the source, the copy lands at `dest_dir/<key><ext>` where key = hash(url, sha256 of the content), written
under a temporary name and renamed: the same URL with the same content always gives the same path, and a crash never
leaves a half file under that name.

http(s) is guarded against SSRF: the host is resolved once, every address must be globally routable (no loopback,
private, link-local, CGNAT, multicast or reserved range) unless `allow_private_hosts`, and the connection goes to
that vetted address (so a DNS answer that changes between check and connect cannot redirect us). Redirects are
followed by hand, each hop vetted the same way.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urljoin, urlparse, urlunparse

import httpx

from ltxcore.errors import RequestRejected
from ltxcore.intake import content_encoding
from ltxcore.intake.hosts import Loc, vet_host
from ltxcore.intake.urls import is_local_url, url_problem
from ltxcore.manifests import ArchiveRef
from ltxcore.store.fs import filesystem
from ltxcore.store.retries import DOWNLOAD
from ltxcore.store.stages import FETCH

DEFAULT_MAX_BYTES = 20 * 1024**3
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
DOWNLOAD_DEADLINE_S = 30 * 60.0  # wall clock for one download, retries included: a trickle never trips TIMEOUT
MAX_REDIRECTS = 5
MAX_DECODED_RATIO = 100.0  # decoded / transferred bytes of a Content-Encoded body above which it is a bomb
_RATIO_FLOOR = 8 << 20  # below this many decoded bytes the ratio is not judged (tiny bodies compress well)
_CHUNK = 1 << 20
_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


class _Transient(Exception):
    """A failure worth another attempt; its message is what the user sees if every attempt fails."""


def fetch(
    url: str,
    dest_dir: Path,
    *,
    loc: Loc,
    allow_local: bool,
    allow_private_hosts: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    deadline_s: float = DOWNLOAD_DEADLINE_S,
) -> ArchiveRef:
    """Copy `url` into `dest_dir` and describe the copy; `RequestRejected` (at `loc`) for the user's mistakes,
    among them a download (retries included) that takes longer than `deadline_s` seconds."""
    deadline = _Deadline(url, loc, deadline_s)
    dest_dir.mkdir(parents=True, exist_ok=True)
    problem = url_problem(url)  # local paths too: length, control characters, a file:// URL naming a host
    if problem:
        raise RequestRejected.one(loc, f"{_shown(url)} {problem}", "url_invalid")
    scheme = urlparse(url).scheme.lower()
    if is_local_url(url):
        if not allow_local:
            raise RequestRejected.one(
                loc, f"local paths are not allowed here; use http(s):// or s3:// (got {url!r})", "url_scheme"
            )
        return _store(url, dest_dir, max_bytes, loc, deadline, lambda: _open_local(url, loc))
    if scheme == "s3":
        return _store(url, dest_dir, max_bytes, loc, deadline, lambda: _open_s3(url, loc))
    if scheme in ("http", "https"):
        return _with_retries(
            url,
            loc,
            lambda: _store(
                url,
                dest_dir,
                max_bytes,
                loc,
                deadline,
                lambda: _open_http(url, loc, allow_private_hosts, max_bytes, deadline),
            ),
        )
    raise RequestRejected.one(loc, f"unsupported URL scheme {scheme!r} in {url!r}", "url_scheme")


# --- storing ---------------------------------------------------------------------------------------------------


class _Deadline:
    """The wall-clock end of one download; `check()` refuses the download (at `loc`) once it has passed."""

    def __init__(self, url: str, loc: Loc, seconds: float):
        self.url, self.loc, self.seconds = url, loc, seconds
        self.end = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise RequestRejected.one(
                self.loc,
                f"the download of {_shown(self.url)} took longer than {_duration(self.seconds)}; it is refused",
                "download_timeout",
            )


def _duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def _store(
    url: str,
    dest_dir: Path,
    max_bytes: int,
    loc: Loc,
    deadline: _Deadline,
    open_source: Callable[[], Iterator[bytes]],
) -> ArchiveRef:
    """Stream chunks into a temporary file, hashing and counting, then rename to the content-addressed name."""
    fd, tmp = tempfile.mkstemp(prefix=".fetch-", suffix=".part", dir=dest_dir)
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in open_source():
                deadline.check()
                size += len(chunk)
                if size > max_bytes:
                    raise RequestRejected.one(loc, f"{url} is larger than the {_human(max_bytes)} limit", "too_large")
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        sha = digest.hexdigest()
        final = dest_dir / f"{FETCH.key(url=url, sha256=sha)}{_extension(url)}"
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return ArchiveRef(url=url, path=str(final), sha256=sha, size=size)


def _extension(url: str) -> str:
    """The URL's file extension when it looks like one (.zip, .mp4), so tools and people recognise the copy."""
    m = re.search(r"(\.[A-Za-z0-9]{1,5})$", unquote(urlparse(url).path))
    return m.group(1).lower() if m else ""


def _read_chunks(f: BinaryIO) -> Iterator[bytes]:
    while chunk := f.read(_CHUNK):
        yield chunk


# --- sources ---------------------------------------------------------------------------------------------------


def _open_local(url: str, loc: Loc) -> Iterator[bytes]:
    path = Path(unquote(urlparse(url).path) if url.lower().startswith("file://") else url).expanduser()
    if not path.is_file():
        raise RequestRejected.one(loc, f"{url} does not exist or is not a file", "not_found")
    with path.open("rb") as f:
        yield from _read_chunks(f)


def _open_s3(url: str, loc: Loc) -> Iterator[bytes]:
    """The object's bytes; missing credentials, access denied and a missing bucket or key are a 422 at `loc` (the
    dataset cannot be downloaded), never a botocore traceback."""
    from botocore.exceptions import ClientError, CredentialRetrievalError, NoCredentialsError, PartialCredentialsError

    fs, path = filesystem(url)
    try:
        with fs.open(path, "rb") as f:
            yield from _read_chunks(f)
    except (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError):
        raise RequestRejected.one(
            loc, f"could not read {url}: no AWS credentials (the deployment provides them)", "s3_credentials"
        ) from None
    except PermissionError:
        raise RequestRejected.one(loc, f"could not read {url}: access denied", "s3_access_denied") from None
    except (FileNotFoundError, IsADirectoryError) as exc:
        why = "it is a folder, not an object" if isinstance(exc, IsADirectoryError) else "no such bucket or key"
        raise RequestRejected.one(loc, f"could not read {url}: {why}", "not_found") from None
    except ClientError as exc:  # one s3fs did not translate: judged by its error code
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _S3_DENIED:
            raise RequestRejected.one(
                loc, f"could not read {url}: access denied ({code})", "s3_access_denied"
            ) from None
        if code in ("NoSuchBucket", "NoSuchKey", "404"):
            raise RequestRejected.one(loc, f"could not read {url}: no such bucket or key", "not_found") from None
        raise


_S3_DENIED = {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}


def _open_http(url: str, loc: Loc, allow_private_hosts: bool, max_bytes: int, deadline: _Deadline) -> Iterator[bytes]:
    """GET `url` through vetted addresses, following redirects by hand, and yield the body in chunks."""
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            deadline.check()
            request = _pinned_request(client, url, loc, allow_private_hosts)
            try:
                resp = client.send(request, stream=True)
                try:
                    if resp.is_redirect and "location" in resp.headers:
                        url = _redirect_target(url, resp.headers["location"], loc)
                        continue
                    _check_status(resp, url, loc)
                    declared = int(resp.headers.get("content-length") or 0)
                    if declared > max_bytes:
                        raise RequestRejected.one(
                            loc, f"{url} is larger than the {_human(max_bytes)} limit", "too_large"
                        )
                    yield from _body(resp, url, loc, deadline)
                    return
                finally:
                    resp.close()
            except httpx.RemoteProtocolError as exc:
                if "location header" in str(exc).lower():  # httpx parses Location itself and refuses a bad one
                    raise RequestRejected.one(
                        loc, f"{url} redirects to an invalid URL ({exc})", "url_invalid"
                    ) from None
                raise _Transient(f"{url} could not be reached ({type(exc).__name__}: {exc})") from exc
            except (httpx.TransportError, httpx.StreamError) as exc:
                raise _Transient(f"{url} could not be reached ({type(exc).__name__}: {exc})") from exc
    raise RequestRejected.one(loc, f"{url} redirects more than {MAX_REDIRECTS} times", "too_many_redirects")


def _redirect_target(url: str, location: str, loc: Loc) -> str:
    """The URL a redirect points at, refused (at `loc`) when it is not a well-formed http(s) URL."""
    try:
        target = urljoin(url, location)
        problem = url_problem(target) if urlparse(target).scheme in ("http", "https") else "is not an http(s) URL"
    except ValueError as exc:  # an unclosed IPv6 bracket fails in urllib itself
        problem = f"is not a valid URL ({exc})"
    if problem:
        raise RequestRejected.one(loc, f"{url} redirects to {location!r}, which {problem}", "url_invalid")
    return target


def _body(resp: httpx.Response, url: str, loc: Loc, deadline: _Deadline) -> Iterator[bytes]:
    """The response body with its Content-Encoding undone in bounded steps; a body that inflates more than
    MAX_DECODED_RATIO times its transferred size is refused (the size cap itself counts decoded bytes in `_store`)."""
    codings = content_encoding.encodings(resp.headers.get("content-encoding"))
    if len(codings) > content_encoding.MAX_CODINGS:
        raise RequestRejected.one(
            loc,
            f"{url} is sent with {len(codings)} Content-Encodings; at most {content_encoding.MAX_CODINGS} are decoded",
            "unsupported_encoding",
        )
    unknown = [c for c in codings if c not in content_encoding.DECODABLE]
    if unknown:
        raise RequestRejected.one(
            loc,
            f"{url} is sent with Content-Encoding {', '.join(unknown)}, which is not supported (gzip and deflate are)",
            "unsupported_encoding",
        )
    raw = content_encoding.Counted(_before(deadline, resp.iter_raw()))  # each network read, however small
    decoded = 0
    try:
        for chunk in content_encoding.decode(raw, codings):
            decoded += len(chunk)
            if decoded > _RATIO_FLOOR and decoded > MAX_DECODED_RATIO * raw.bytes:
                raise RequestRejected.one(
                    loc,
                    f"{url} inflates from {_human(raw.bytes)} sent to more than {_human(decoded)} "
                    f"(over {MAX_DECODED_RATIO:.0f}:1, a compression bomb); it is refused",
                    "too_large",
                )
            yield chunk
    except zlib.error as exc:
        raise RequestRejected.one(
            loc,
            f"{url} declares Content-Encoding {', '.join(codings)} but its body does not decode ({exc})",
            "bad_encoding",
        ) from None


def _before(deadline: _Deadline, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """`chunks`, the deadline checked as each one arrives: a server sending a byte every few seconds never trips the
    read timeout, and httpx's re-chunking to a fixed size would hide those bytes until a megabyte had come."""
    for chunk in chunks:
        deadline.check()
        yield chunk


def _check_status(resp: httpx.Response, url: str, loc: Loc) -> None:
    if resp.status_code in _RETRY_STATUS:
        raise _Transient(f"{url} answered HTTP {resp.status_code}")
    if resp.status_code >= 400:
        raise RequestRejected.one(loc, f"{url} answered HTTP {resp.status_code} ({resp.reason_phrase})", "not_found")


def _pinned_request(client: httpx.Client, url: str, loc: Loc, allow_private_hosts: bool) -> httpx.Request:
    """A request to the vetted IP of `url`'s host, with Host header and TLS server name set to the real host."""
    parts = urlparse(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RequestRejected.one(loc, f"{url} is not an http(s) URL with a host", "url_scheme")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    ip = vet_host(parts.hostname, port, loc, allow_private_hosts)
    host_for_url = f"[{ip}]" if ip.version == 6 else str(ip)
    pinned = urlunparse(parts._replace(netloc=f"{host_for_url}:{port}"))
    host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    # identity: an archive of videos does not compress, and a server that encodes anyway is decoded with bounds.
    return client.build_request(
        "GET",
        pinned,
        headers={"Host": host_header, "Accept-Encoding": "identity"},
        extensions={"sni_hostname": parts.hostname},
    )


# --- retries ---------------------------------------------------------------------------------------------------


def _with_retries(url: str, loc: Loc, attempt: Callable[[], ArchiveRef]) -> ArchiveRef:
    """Retry transient failures (the DOWNLOAD rule); when they persist, the host counts as unreachable."""
    for i in range(DOWNLOAD.attempts):
        try:
            return attempt()
        except _Transient as exc:
            if i == DOWNLOAD.attempts - 1:
                raise RequestRejected.one(loc, f"{exc} after {DOWNLOAD.attempts} attempts", "unreachable") from None
            time.sleep(DOWNLOAD.delay_s(i))
    raise AssertionError("unreachable")


def _shown(url: str) -> str:
    """`url` as a message quotes it: as is when short and printable, else its repr cut to 200 characters."""
    if len(url) <= 200 and url.isprintable() and not any(ch.isspace() for ch in url):
        return url
    return repr(url[:200]) + ("..." if len(url) > 200 else "")


def _human(n: int) -> str:
    size, unit = float(n), "B"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            break
        size /= 1024
    return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
