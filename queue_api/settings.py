"""The queue API's deployment settings: `EXTEND_SUFFIX_API_*` (pydantic-settings, read once at start-up) and the
job's own deployment settings it shares (allow-lists, the output root)."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ltxcore.job.settings import JobSettings
from ltxcore.settings import PREFIX

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class ApiEnvironment(BaseSettings):
    """The `EXTEND_SUFFIX_API_*` variables, as written."""

    model_config = SettingsConfigDict(env_prefix=f"{PREFIX}API_", extra="ignore", frozen=True)

    keys: str = Field(default="", description="sha256 hex digests of the accepted keys, comma or space separated.")
    keys_file: str | None = Field(default=None, description="A file of digests, one a line (# starts a comment).")
    deployment: str = Field(default="extend-suffix/extend-suffix", description="flow/deployment that runs the job.")
    max_body: int = Field(default=1 << 20, gt=0, description="Largest request body in bytes (413 above).")
    public_url: str | None = Field(default=None, description="Base of the URLs handed out.")
    url_secret: str | None = Field(default=None, description="Signs download links; default: random per process.")
    url_ttl: int = Field(default=7 * 24 * 3600, gt=0, description="Seconds a download link stays valid.")


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
        env, job = ApiEnvironment(), JobSettings()
        values: dict[str, object] = {
            "deployment": env.deployment,
            "max_body_bytes": env.max_body,
            "public_url": env.public_url or None,
            # Without a configured secret the links die with the process: safe, and a restart only costs a re-poll.
            "url_secret": env.url_secret or secrets.token_hex(32),
            "url_ttl_s": env.url_ttl,
            "allow_local_inputs": job.allow_local_inputs,
            "output_root": job.output_root,
        }
        values.update(overrides)
        if "key_digests" not in values:
            values["key_digests"] = read_key_digests(env.keys, env.keys_file)
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
