"""content_encoding.decode: every coding undone by one loop (no generator per coding), in bounded steps."""

from __future__ import annotations

import gzip
import sys
import zlib

import pytest

from ltxcore.intake.content_encoding import CHUNK, MAX_CODINGS, decode


def _pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_the_maximum_number_of_stacked_codings_decodes_in_steps_of_at_most_chunk_bytes() -> None:
    body = bytes(3 * CHUNK + 123)  # zeros: every layer inflates a lot
    coded = body
    for _ in range(MAX_CODINGS):
        coded = gzip.compress(coded)
    out = list(decode(_pieces(coded, 7), ["gzip"] * MAX_CODINGS))
    assert b"".join(out) == body and max(len(p) for p in out) <= CHUNK


def test_concatenated_gzip_members_under_a_zlib_deflate_layer_decode_whole() -> None:
    members = gzip.compress(b"first ") + gzip.compress(b"second")
    coded = zlib.compress(members)  # applied last: "Content-Encoding: gzip, deflate"
    assert b"".join(decode(_pieces(coded, 3), ["gzip", "deflate"])) == b"first second"


def test_decoding_does_not_deepen_the_stack_per_coding() -> None:
    depths: list[int] = []

    def chunks():
        depths.append(len(_stack()))
        coded = b"x" * 100
        for _ in range(MAX_CODINGS):
            coded = gzip.compress(coded)
        yield coded

    def _stack() -> list:
        frame, frames = sys._getframe(), []
        while frame:
            frames.append(frame)
            frame = frame.f_back
        return frames

    base = len(_stack())
    assert b"".join(decode(chunks(), ["gzip"] * MAX_CODINGS)) == b"x" * 100
    assert depths[0] - base == 2  # test -> decode -> the source: not through one generator per coding


def test_more_codings_than_the_cap_are_refused_by_decode_itself() -> None:
    with pytest.raises(AssertionError):
        list(decode([b""], ["gzip"] * (MAX_CODINGS + 1)))


def test_a_truncated_gzip_or_deflate_body_is_an_error_not_a_shorter_file() -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB that compresses only a little
    for packed, coding in ((gzip.compress(payload), "gzip"), (zlib.compress(payload), "deflate")):
        assert b"".join(decode([packed], [coding])) == payload
        with pytest.raises(zlib.error, match="truncated"):
            b"".join(decode([packed[: len(packed) // 2]], [coding]))
        with pytest.raises(zlib.error, match="truncated"):
            b"".join(decode([packed[:1]], [coding]))


def test_raw_deflate_under_the_deflate_coding_decodes_as_servers_send_it() -> None:
    payload = b"frames " * 50_000
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    body = raw.compress(payload) + raw.flush()
    # fed a byte at a time: the header is judged on the first two bytes, whatever the network's chunking
    assert b"".join(decode([body[i : i + 1] for i in range(len(body))], ["deflate"])) == payload
    with pytest.raises(zlib.error):  # raw deflate is the deflate coding's quirk; gzip stays strict
        b"".join(decode([body], ["gzip"]))
