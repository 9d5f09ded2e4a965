"""What every verb shares: the request argument and common options, reading a request, and the one rejection
handler (exit 2 with the 422 body on stdout)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from ltxcore.errors import RequestRejected

EXIT_REJECTED = 2

RequestArg = Annotated[str, typer.Argument(help="Request JSON file, or - for standard input.")]
WorkDirOpt = Annotated[Path, typer.Option("--work-dir", help="Directory for stage outputs (reused to resume).")]
ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        help="'tiny' (random weights), 'toy' (trained on the toy world), a local directory or an s3:// prefix.",
    ),
]
PrivateHostsOpt = Annotated[bool, typer.Option(help="Fetch from private/loopback hosts too.")]
BucketOpt = Annotated[
    str | None, typer.Option("--bucket", help="WxH replacing the resolution bucket (smoke tests, tiny model).")
]


def read_source(source: str) -> bytes:
    """The request's raw bytes from a file or standard input, read only up to one byte past the size limit (the
    parser refuses an oversized request with a 422; an endless stream or a huge file is never read whole).

    Bytes, not text: `load_json` decodes them (a UTF-8 BOM is accepted, any other non-UTF-8 byte is a 422), so
    neither a stdin decoding error nor a silent U+FFFD replacement can happen here."""
    from ltxcore.job.untrusted_json import MAX_REQUEST_BYTES

    if source == "-":
        return sys.stdin.buffer.read(MAX_REQUEST_BYTES + 1)
    path = Path(source)
    if not path.exists():
        raise RequestRejected.one(("file",), f"request file {source!r} does not exist", "file_missing")
    if not path.is_file():  # a directory, a device (/dev/zero), a socket: nothing to read a request from
        raise RequestRejected.one(("file",), f"request file {source!r} is not a regular file", "file_not_regular")
    with path.open("rb") as f:
        return f.read(MAX_REQUEST_BYTES + 1)


def bucket_size(text: str | None) -> tuple[int, int] | None:
    """--bucket WxH, or a 422 naming the option."""
    from ltxcore.job.settings import parse_size

    if not text:
        return None
    try:
        return parse_size(text)
    except ValueError as exc:
        raise RequestRejected.one(("--bucket",), str(exc), "value_error") from None


def reject(exc: RequestRejected) -> None:
    typer.echo(exc.to_json())
    raise typer.Exit(EXIT_REJECTED)


@contextmanager
def rejections() -> Iterator[None]:
    """Any RequestRejected inside becomes exit 2 with its 422 body on stdout."""
    try:
        yield
    except RequestRejected as exc:
        reject(exc)
