"""The queue API's deployment settings, from the environment (like every EXTEND_SUFFIX_* setting)."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ltxcore.settings import JobSettings

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class ApiSettings(BaseModel):
    """Who may call, what is served and how big a request may be."""

    model_config = ConfigDict(frozen=True)

    key_digests: frozenset[str]  # sha256 hex digests of the accepted API keys: keys themselves are never stored
    app_id: str = "fal-ai/ltx23-trainer-v2"  # owner/app, as the client's endpoint id starts
    endpoint: str = "extend-suffix"
    deployment: str = "extend-suffix/extend-suffix"  # flow/deployment that runs the job
    max_body_bytes: int = 1 << 20  # a request is a small JSON document; anything bigger is refused (413)
    public_url: str | None = None  # base of the URLs handed out; default: the URL the caller reached us at
    url_secret: str  # signs download links of local outputs
    url_ttl_s: int = 7 * 24 * 3600  # how long a download link (signed route or presigned S3 URL) stays valid
    allow_local_inputs: bool = False
    output_root: str = "runs/outputs"  # only files under this root are ever served by the download route

    @classmethod
    def from_env(cls, **overrides: object) -> ApiSettings:
        job = JobSettings.from_env()
        values: dict[str, object] = {
            "deployment": os.environ.get("EXTEND_SUFFIX_API_DEPLOYMENT", "extend-suffix/extend-suffix"),
            "max_body_bytes": int(os.environ.get("EXTEND_SUFFIX_API_MAX_BODY", str(1 << 20))),
            "public_url": os.environ.get("EXTEND_SUFFIX_API_PUBLIC_URL") or None,
            # Without a configured secret the links die with the process: safe, and a restart only costs a re-poll.
            "url_secret": os.environ.get("EXTEND_SUFFIX_API_URL_SECRET") or secrets.token_hex(32),
            "url_ttl_s": int(os.environ.get("EXTEND_SUFFIX_API_URL_TTL", str(7 * 24 * 3600))),
            "allow_local_inputs": job.allow_local_inputs,
            "output_root": job.output_root,
        }
        values.update(overrides)
        if "key_digests" not in values:
            values["key_digests"] = read_key_digests(
                os.environ.get("EXTEND_SUFFIX_API_KEYS", ""), os.environ.get("EXTEND_SUFFIX_API_KEYS_FILE")
            )
        return cls.model_validate(values)


def read_key_digests(listed: str, file: str | None) -> frozenset[str]:
    """Digests from a comma/space separated list and from a file of one digest a line (`#` starts a comment).

    A malformed entry stops the server at start-up: a typo must not silently lock everyone out, or let anyone in.
    """
    entries = listed.replace(",", " ").split()
    if file:
        for line in Path(file).read_text().splitlines():
            entries.extend(line.split("#", 1)[0].split())
    digests = {e.strip().lower() for e in entries}
    bad = sorted(d for d in digests if not _DIGEST.match(d))
    if bad:
        raise ValueError(f"API key digests must be sha256 hex digests (64 hex characters); got {bad[0][:12]!r}...")
    if not digests:
        raise ValueError("no API keys configured: set EXTEND_SUFFIX_API_KEYS or EXTEND_SUFFIX_API_KEYS_FILE")
    return frozenset(digests)
