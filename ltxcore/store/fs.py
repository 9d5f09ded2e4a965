"""Object storage through fsspec: one way to open local paths, file:// and s3:// alike.

S3 endpoint and credentials come from the environment: EXTEND_SUFFIX_S3_ENDPOINT (or AWS_ENDPOINT_URL) for
S3-protocol servers other than AWS, and the usual AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / profile chain.
"""

from __future__ import annotations

import os
from typing import Any

import fsspec
from fsspec import AbstractFileSystem


def s3_options() -> dict[str, Any]:
    """s3fs options from the environment (no region: it breaks bucket creation on S3-protocol servers)."""
    opts: dict[str, Any] = {}
    endpoint = os.environ.get("EXTEND_SUFFIX_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        opts["client_kwargs"] = {"endpoint_url": endpoint}
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        opts["key"], opts["secret"] = key, secret
    return opts


def filesystem(url: str) -> tuple[AbstractFileSystem, str]:
    """The filesystem for `url` and the path within it."""
    if url.startswith("s3://"):
        fs = fsspec.filesystem("s3", **s3_options())
        return fs, url[len("s3://") :]
    if url.startswith("file://"):
        url = url[len("file://") :]
    return fsspec.filesystem("file"), url


def is_remote(url: str) -> bool:
    return url.startswith("s3://")
