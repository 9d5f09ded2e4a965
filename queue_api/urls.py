"""Every URL the API hands out: the queue URLs of a request, and download URLs for its output files.

Outputs under an `s3://` root become presigned https URLs; outputs under a local root become a route on this API
whose token (path + expiry, HMAC-signed) is the only authority to read them, so the client downloads them without a key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

from ltxcore.job.download import OUTPUT_FIELDS  # every output file a result names
from ltxcore.store.fs import filesystem, is_remote

log = logging.getLogger(__name__)

FILE_ROUTE = "/files"


def queue_urls(base_url: str, app_id: str, request_id: str) -> dict[str, str]:
    """The URLs a submit answer carries: under the app id without the endpoint, as the client builds them itself."""
    root = f"{base_url.rstrip('/')}/{app_id}/requests/{request_id}"
    return {"response_url": root, "status_url": f"{root}/status", "cancel_url": f"{root}/cancel"}


class FileSigner:
    """Signs and checks download tokens for local output files."""

    def __init__(self, secret: str, ttl_s: int, output_root: str):
        self._key = hashlib.sha256(b"extend-suffix-file-url:" + secret.encode()).digest()
        self.ttl_s = ttl_s
        self.output_root = local_path(output_root).resolve()

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def token(self, path: Path, now: float | None = None) -> str:
        """A token for `path`, which must lie under the output root; it carries the path relative to the root, so a
        link shows nothing of the server's disk layout."""
        relative = path.resolve().relative_to(self.output_root)  # ValueError outside the root
        expires = int((time.time() if now is None else now) + self.ttl_s)
        payload = json.dumps({"p": relative.as_posix(), "e": expires}, separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def path(self, token: str, now: float | None = None) -> Path | None:
        """The file a valid, unexpired token names (inside the output root), else None."""
        claims = self._claims(token)
        if claims is None or claims["e"] < (time.time() if now is None else now):
            return None
        path = (self.output_root / claims["p"]).resolve()
        # Tokens are only minted under the root; checking again keeps a leaked secret from reading the rest of the disk.
        if not path.is_relative_to(self.output_root) or not path.is_file():
            return None
        return path

    def _claims(self, token: str) -> dict[str, Any] | None:
        """The claims of a token in exactly the form `token` writes (one spelling per token: base64 that decodes
        alike but is written differently is refused), with a matching MAC and claims of the right types."""
        match = _TOKEN.fullmatch(token)
        if match is None:
            return None
        payload, mac = _unb64(match["payload"]), _unb64(match["mac"])
        if payload is None or mac is None or not hmac.compare_digest(mac, self._mac(payload)):
            return None
        try:
            claims = json.loads(payload)
        except ValueError:
            return None
        if not isinstance(claims, dict) or set(claims) != {"p", "e"}:
            return None
        if not isinstance(claims["p"], str) or type(claims["e"]) is not int:
            return None
        return claims


# base64url without padding: the MAC is 32 bytes (43 characters); a payload is a short JSON object.
_TOKEN = re.compile(r"(?P<payload>[A-Za-z0-9_-]{8,1400})\.(?P<mac>[A-Za-z0-9_-]{43})", re.ASCII)


def _unb64(text: str) -> bytes | None:
    """The bytes of canonical unpadded base64url `text` (re-encoding gives `text` back), else None."""
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        return None
    return data if _b64(data) == text else None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def download_url(url: str, base_url: str, signer: FileSigner) -> str | None:
    """A URL the client can GET for an output stored at `url` (`s3://...`, `file://...` or a path), or None for a
    file this API cannot serve: a worker's path means nothing to a client and tells it about the server's disk."""
    if is_remote(url):
        fs, path = filesystem(url)
        return fs.sign(path, expiration=signer.ttl_s)
    path = local_path(url).resolve()
    try:
        token = signer.token(path)
    except ValueError:  # not under this API's output root: it cannot serve the file
        log.warning("%s is outside EXTEND_SUFFIX_OUTPUT_ROOT (%s): no download link for it", url, signer.output_root)
        return None
    return f"{base_url.rstrip('/')}{FILE_ROUTE}/{token}/{quote(path.name)}"


def local_path(url: str) -> Path:
    """The path a `file://` URL (percent-encoded, as `Path.as_uri` writes it) or a plain path names."""
    return Path(unquote(urlparse(url).path)) if url.startswith("file://") else Path(url)


def downloadable(result: dict[str, Any], base_url: str, signer: FileSigner) -> dict[str, Any]:
    """The ExtendSuffixResult with every output file's URL replaced by a downloadable one (null where there is
    none: the server's log says why)."""
    out = dict(result)
    for name in OUTPUT_FIELDS:
        entry = out.get(name)
        if isinstance(entry, dict) and entry.get("url"):
            out[name] = {**entry, "url": download_url(entry["url"], base_url, signer)}
    return out
