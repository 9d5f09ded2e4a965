"""The queue API's deployment settings: `EXTEND_SUFFIX_API_*` (pydantic-settings, read once at start-up) and the
job's own deployment settings it shares (allow-lists, the output root)."""

from __future__ import annotations

import ipaddress
import re
import secrets
from pathlib import Path
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ltxcore.job.settings import JobSettings
from ltxcore.settings import PREFIX

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
MIN_SECRET_CHARS = 32  # a signing secret shorter than this is guessable offline from one download link


class ApiEnvironment(BaseSettings):
    """The `EXTEND_SUFFIX_API_*` variables, as written."""

    model_config = SettingsConfigDict(env_prefix=f"{PREFIX}API_", extra="ignore", frozen=True)

    keys: str = Field(default="", description="sha256 hex digests of the accepted keys, comma or space separated.")
    keys_file: str | None = Field(default=None, description="A file of digests, one a line (# starts a comment).")
    deployment: str = Field(default="extend-suffix/extend-suffix", description="flow/deployment that runs the job.")
    max_body: int = Field(default=64 << 10, gt=0, description="Largest request body in bytes (413 above).")
    max_keys: int = Field(default=128, gt=0, description="Most keys in any one JSON object of a request (422 above).")
    max_errors: int = Field(default=50, gt=0, description="Most error details one 422 body lists (then a summary).")
    public_url: str | None = Field(default=None, description="Base of the URLs handed out (required off loopback).")
    url_secret: str | None = Field(default=None, description="Signs download links; default: random per process.")
    url_ttl: int = Field(default=7 * 24 * 3600, gt=0, description="Seconds a download link stays valid.")
    prefect_timeout: float = Field(default=5.0, gt=0, description="Seconds one call to the Prefect API may take.")
    prefect_calls: int = Field(default=16, gt=0, description="Prefect calls in flight at once, all keys together.")
    prefect_calls_per_key: int = Field(default=4, gt=0, description="Prefect calls in flight at once for one key.")
    runs_per_key: int = Field(default=10, gt=0, description="Runs one key may have waiting or running (429 above).")
    header_timeout: float = Field(default=10.0, gt=0, description="Seconds a client has to send a request's headers.")
    body_timeout: float = Field(default=30.0, gt=0, description="Seconds a client has to send a request's body.")
    max_connections: int = Field(default=256, gt=0, description="Open connections at once (503 to the rest).")


class ApiSettings(BaseModel):
    """Who may call, what is served, and the bounds every request is held to."""

    model_config = ConfigDict(frozen=True)

    key_digests: frozenset[str]  # sha256 hex digests of the accepted API keys: keys themselves are never stored
    app_id: str = "fal-ai/ltx23-trainer-v2"  # owner/app, as the client's endpoint id starts
    endpoint: str = "extend-suffix"
    deployment: str = "extend-suffix/extend-suffix"  # flow/deployment that runs the job
    max_body_bytes: int = 64 << 10  # a real request is under a few KiB; anything much bigger is refused (413)
    max_keys: int = 128  # the request has about 40 fields; thousands of keys is only ever an attack on validation
    max_errors: int = 50  # a 422 body lists at most this many mistakes, then one detail counting the rest
    public_url: str | None = None  # base of the URLs handed out; serve() fills it in on loopback, requires it elsewhere
    url_secret: str = Field(min_length=MIN_SECRET_CHARS)  # signs download links of local outputs
    url_ttl_s: int = 7 * 24 * 3600  # how long a download link (signed route or presigned S3 URL) stays valid
    allow_local_inputs: bool = False
    output_root: str = "runs/outputs"  # only files under this root are ever served by the download route
    prefect_timeout_s: float = 5.0  # each call to the Prefect API; past it the route answers 503
    prefect_calls: int = 16  # Prefect calls in flight overall; one more is a 503 at once, never a queue
    prefect_calls_per_key: int = 4  # ... and for one key, so one key cannot take every slot
    runs_per_key: int = 10  # runs waiting or running per key; one more submit is a 429
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 256

    @classmethod
    def from_env(cls, **overrides: object) -> ApiSettings:
        env, job = ApiEnvironment(), JobSettings()
        values: dict[str, object] = {
            "deployment": env.deployment,
            "max_body_bytes": env.max_body,
            "max_keys": env.max_keys,
            "max_errors": env.max_errors,
            "public_url": env.public_url or None,
            # Without a configured secret the links die with the process: safe, and a restart only costs a re-poll.
            "url_secret": env.url_secret or secrets.token_hex(32),
            "url_ttl_s": env.url_ttl,
            "allow_local_inputs": job.allow_local_inputs,
            "output_root": job.output_root,
            "prefect_timeout_s": env.prefect_timeout,
            "prefect_calls": env.prefect_calls,
            "prefect_calls_per_key": env.prefect_calls_per_key,
            "runs_per_key": env.runs_per_key,
            "header_timeout_s": env.header_timeout,
            "body_timeout_s": env.body_timeout,
            "max_connections": env.max_connections,
        }
        if env.url_secret is not None and len(env.url_secret) < MIN_SECRET_CHARS:
            raise ValueError(f"EXTEND_SUFFIX_API_URL_SECRET must have at least {MIN_SECRET_CHARS} characters")
        values.update(overrides)
        if "key_digests" not in values:
            values["key_digests"] = read_key_digests(env.keys, env.keys_file)
        return cls.model_validate(values)

    def served_at(self, host: str, port: int, tls: bool) -> ApiSettings:
        """These settings with the public URL resolved for a server on host:port: the configured one, or on
        loopback the address itself; off loopback a missing one is an error, since the Host header is the caller's
        to choose and must never end up in a link."""
        if self.public_url:
            parsed = urlparse(self.public_url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.query or parsed.fragment:
                raise ValueError(f"EXTEND_SUFFIX_API_PUBLIC_URL must be an http(s) base URL (got {self.public_url!r})")
            return self
        if not is_loopback(host):
            raise ValueError(f"set EXTEND_SUFFIX_API_PUBLIC_URL (e.g. https://trainer.example.com) to serve on {host}")
        shown = f"[{host}]" if ":" in host else host
        return self.model_copy(update={"public_url": f"{'https' if tls else 'http'}://{shown}:{port}"})


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
