"""Undo an http response's Content-Encoding in bounded steps, counting what goes in and what comes out.

httpx would inflate a whole network chunk at once (a 64 KiB gzip chunk of zeros is 64 MiB in memory) and the fetcher
could not tell a 200 KB response from the 200 MiB it inflates to. Here every step yields at most `CHUNK` bytes and
the caller sees both counts, so the download cap applies to decoded bytes and an inflation ratio can be refused.
gzip and deflate (zlib-wrapped, as HTTP defines it) are decoded; any other encoding is refused by the caller.
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


def decode(chunks: Iterable[bytes], codings: list[str]) -> Iterable[bytes]:
    """`chunks` with every coding undone, last applied first; each coding must be one of DECODABLE, and there are at
    most MAX_CODINGS of them (the caller refuses more), so the chain of decoders stays a few generators deep."""
    assert len(codings) <= MAX_CODINGS, f"{len(codings)} codings (at most {MAX_CODINGS})"
    out = chunks
    for coding in reversed(codings):
        assert coding in DECODABLE, f"undecodable coding {coding!r}"
        out = _inflate(out)
    return out


def _inflate(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Inflate a gzip or zlib stream (several gzip members in a row too), at most CHUNK bytes per step."""
    inflater = zlib.decompressobj(_AUTO_HEADER)
    for data in chunks:
        while data:
            out = inflater.decompress(data, CHUNK)
            data = inflater.unconsumed_tail
            if inflater.eof:  # a member ended: what follows is the next member
                data = data + inflater.unused_data
                inflater = zlib.decompressobj(_AUTO_HEADER)
            if out:
                yield out
    tail = inflater.flush()
    if tail:
        yield tail
