"""What makes an input URL well-formed: one rule set for the request contract, the fetcher and every redirect.

`urllib.parse` is lenient in ways that end in a traceback later (`.port` raises for `:99999` or `:abc`, a bracketed
host that is not an address raises on parse) or in a request to the wrong place; these rules turn each into a plain
sentence. s3:// follows AWS's bucket naming rules and must name an object (a key), with no credentials in the URL.

Before any parsing, a URL longer than MAX_URL_LENGTH or holding a control character (C0, DEL, C1) or whitespace is
refused: `urlsplit` silently drops tab, CR and LF (`http://e.com\r\n.evil/` would be fetched from `e.com.evil`) and
httpx refuses an overlong URL with a traceback. A file:// URL names no host (`file:///path` or `file://localhost/`).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, urlparse, urlsplit

_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4_LIKE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")  # two letters or more: a one-letter "scheme" is a Windows drive
MAX_URL_LENGTH = 2048  # what browsers and most servers accept; a dataset URL is far shorter


def url_problem(url: str) -> str | None:
    """Why `url` cannot be fetched, as a sentence fragment, or None when it is well-formed. http(s) and s3 are judged
    whole; a file:// URL must name no host; any URL or path is judged for its length and its characters."""
    if len(url) > MAX_URL_LENGTH:
        return f"is {len(url)} characters long; a URL has at most {MAX_URL_LENGTH}"
    for i, ch in enumerate(url):
        if _is_control(ch):
            return f"contains the control character {ch!r} at position {i}; a URL has none"
    has_scheme = _SCHEME.match(url) is not None
    if has_scheme:  # a plain local path may hold spaces; a URL spells them %20
        for i, ch in enumerate(url):
            if ch.isspace():
                return f"contains whitespace ({ch!r}) at position {i}; spell it %20 in a URL"
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. "Invalid IPv6 URL" for an unclosed bracket
        return f"is not a valid URL ({exc})"
    scheme = parts.scheme.lower()
    if scheme == "file" and parts.netloc.lower() not in ("", "localhost"):
        return f"names the host {parts.netloc!r}; a file:// URL reads this machine only (file:///path/data.zip)"
    if scheme in ("http", "https"):
        return _http_problem(parts)
    if scheme == "s3":
        return _s3_problem(parts)
    return None


def _is_control(ch: str) -> bool:
    code = ord(ch)
    return code < 0x20 or 0x7F <= code <= 0x9F or ch in "\u2028\u2029"


def _http_problem(parts: SplitResult) -> str | None:
    try:
        port = parts.port  # raises for a port that is not a number or is outside 0..65535
    except ValueError:
        return f"has an invalid port in {parts.netloc!r} (a port is a number from 1 to 65535)"
    if port == 0:
        return f"has port 0 in {parts.netloc!r} (a port is a number from 1 to 65535)"
    host = parts.hostname
    if not host:
        return "has no host"
    return host_problem(host)


def host_problem(host: str) -> str | None:
    """A host must be an IP address or a DNS name of 1..63-character labels, 253 characters in all."""
    try:
        ipaddress.ip_address(host.split("%")[0])
        return None
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")  # internationalised names become their xn-- form
    except UnicodeError:
        return f"has a malformed host name {host!r}"
    name = ascii_host[:-1] if ascii_host.endswith(".") else ascii_host
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        return f"has a malformed host name {host!r}"
    return None


def _s3_problem(parts: SplitResult) -> str | None:
    if "@" in parts.netloc:
        return "carries credentials (user@ or user:password@); give them to the deployment, never in the URL"
    bucket = parts.netloc
    if not _BUCKET.match(bucket) or ".." in bucket or _IPV4_LIKE.match(bucket):
        return (
            f"has an invalid bucket name {bucket!r} (3 to 63 lower-case letters, digits, dots and hyphens, "
            "starting and ending with a letter or digit)"
        )
    key = parts.path.lstrip("/")
    if not key or key.endswith("/"):
        return f"names no object in bucket {bucket!r}; give the key of the file (s3://{bucket}/path/data.zip)"
    return None


def is_local_url(url: str) -> bool:
    """True for a plain path or a file:// URL: inputs only some deployments may read."""
    try:
        scheme = urlparse(url).scheme.lower()
    except ValueError:  # e.g. an unclosed IPv6 bracket: not a path either
        return False
    return scheme in ("", "file") or len(scheme) == 1  # a one-letter scheme is a Windows drive
