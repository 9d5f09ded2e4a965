"""Undo an http response's Content-Encoding in bounded steps, counting what goes in and what comes out.

httpx would inflate a whole network chunk at once (a 64 KiB gzip chunk of zeros is 64 MiB in memory) and the fetcher
could not tell a 200 KB response from the 200 MiB it inflates to. Here every step yields at most `CHUNK` bytes and
the caller sees both counts, so the download cap applies to decoded bytes and an inflation ratio can be refused.
gzip and deflate (zlib-wrapped, as HTTP defines it, or raw, as some servers send it) are decoded; any other encoding
is refused by the caller, and a truncated compressed body is an error, not a shorter file.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

CHUNK = 1 << 20
DECODABLE = ("gzip", "x-gzip", "deflate")
MAX_CODINGS = 4  # a server applies one coding, rarely two; thousands of "gzip, gzip, ..." is an attack
_AUTO_HEADER = zlib.MAX_WBITS | 32  # zlib reads either a gzip or a zlib header


class Counted:
    """Raw chunks passed through while their total length is counted (`.bytes`)."""

    def __init__(self, chunks: Iterable[bytes]):
        self.bytes = 0
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.bytes += len(chunk)
            yield chunk


def encodings(header: str | None) -> list[str]:
    """The codings of a Content-Encoding header in the order they were applied (identity dropped)."""
    found = [c.strip().lower() for c in (header or "").split(",")]
    return [c for c in found if c and c != "identity"]


def decode(chunks: Iterable[bytes], codings: list[str]) -> Iterator[bytes]:
    """`chunks` with every coding undone, last applied first; each coding must be one of DECODABLE, and there are at
    most MAX_CODINGS of them (the caller refuses more). One loop drives every decoder (no generator or call per
    coding), and each step yields at most CHUNK bytes."""
    assert len(codings) <= MAX_CODINGS, f"{len(codings)} codings (at most {MAX_CODINGS})"
    assert all(c in DECODABLE for c in codings), f"undecodable coding in {codings!r}"
    stages = [_Inflater(raw_deflate_allowed=c == "deflate") for c in reversed(codings)]
    for data in chunks:
        yield from _pipe(stages, 0, data)
    for i, stage in enumerate(stages):  # the first decoder's tail goes through the later ones, and so on
        yield from _pipe(stages, i + 1, stage.flush())


class _Inflater:
    """A gzip or zlib stream (several gzip members in a row too), inflated at most CHUNK bytes per step. For the
    `deflate` coding a raw deflate stream (no zlib header, as IIS sends it) is read too, told apart by its first two
    bytes. A stream that stops before its end marker (a truncated body) is a zlib.error at the end, not a shorter
    file."""

    def __init__(self, raw_deflate_allowed: bool = False) -> None:
        self._raw_ok = raw_deflate_allowed
        self._z: zlib._Decompress | None = None  # made on the first bytes, once the header can be seen
        self._mid = False  # inside a member: bytes were fed since the last end marker
        self._pending = b""

    def step(self, data: bytes) -> tuple[bytes, bytes]:
        """Inflate from `data`; returns (at most CHUNK bytes out, the input still to feed)."""
        if self._z is None:
            data, self._pending = self._pending + data, b""
            if self._raw_ok and len(data) < 2:
                self._pending = data  # kept until two bytes tell a zlib header from raw deflate
                return b"", b""
            self._z = zlib.decompressobj(_AUTO_HEADER if not self._raw_ok or _zlib_header(data) else -zlib.MAX_WBITS)
        self._mid = True
        out = self._z.decompress(data, CHUNK)
        rest = self._z.unconsumed_tail
        if self._z.eof:  # a member ended: what follows is the next member
            rest = rest + self._z.unused_data
            self._z = zlib.decompressobj(_AUTO_HEADER)
            self._mid = bool(rest)
        return out, rest

    def flush(self) -> bytes:
        if self._z is None:
            if self._pending:
                raise zlib.error("the body ends inside its compressed stream's header (truncated)")
            return b""
        tail = self._z.flush()
        if self._mid and not self._z.eof:
            raise zlib.error("the body ends before the end of its compressed stream (truncated)")
        return tail


def _zlib_header(data: bytes) -> bool:
    """Whether `data` starts with a zlib header (RFC 1950: deflate method, check bits) or a gzip one."""
    if data[:2] == b"\x1f\x8b":
        return True
    cmf, flg = data[0], data[1]
    return cmf & 0x0F == 8 and (cmf << 8 | flg) % 31 == 0


def _pipe(stages: list[_Inflater], start: int, data: bytes) -> Iterator[bytes]:
    """`data` through stages[start:], depth first with an explicit stack: each stage holds at most one pending
    input on it, so memory is a few CHUNKs whatever the body, and nothing recurses."""
    stack = [(start, data)]
    while stack:
        i, piece = stack.pop()
        if not piece:
            continue
        if i == len(stages):
            yield piece
            continue
        out, rest = stages[i].step(piece)
        stack.append((i, rest))  # the rest of this stage's input, after its output went all the way through
        stack.append((i + 1, out))
