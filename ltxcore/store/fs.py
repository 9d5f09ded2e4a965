"""Object storage through fsspec: one way to open local paths, file:// and s3:// alike.

S3 endpoint and credentials are tool settings (ltxcore.settings): EXTEND_SUFFIX_S3_ENDPOINT (or AWS_ENDPOINT_URL)
for S3-protocol servers other than AWS, and the usual AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / profile chain.
"""

from __future__ import annotations

from typing import Any

import fsspec
from fsspec import AbstractFileSystem

from ltxcore.settings import tools


def s3_options() -> dict[str, Any]:
    """s3fs options from the tool settings (no region: it breaks bucket creation on S3-protocol servers)."""
    machine = tools()
    opts: dict[str, Any] = {}
    if machine.s3_endpoint:
        opts["client_kwargs"] = {"endpoint_url": machine.s3_endpoint}
    if machine.aws_access_key_id and machine.aws_secret_access_key:
        opts["key"], opts["secret"] = machine.aws_access_key_id, machine.aws_secret_access_key
    return opts


def filesystem(url: str) -> tuple[AbstractFileSystem, str]:
    """The filesystem for `url` and the path within it."""
    if url.startswith("s3://"):
        fs = fsspec.filesystem("s3", **s3_options())
        return fs, url[len("s3://") :]
    if url.startswith("file://"):
        url = url[len("file://") :]
    # auto_mkdir: a local stage mirror, like S3, takes a file without its folders made first
    return fsspec.filesystem("file", auto_mkdir=True), url


def is_remote(url: str) -> bool:
    return url.startswith("s3://")
