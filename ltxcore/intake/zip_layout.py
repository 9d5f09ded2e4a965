"""Facts about a zip's layout that `zipfile` does not check: where each entry's bytes lie, and whether it can be read.

Overlapping entries are the "quoted overlap" zip bomb: many central-directory entries point into one compressed
block, so a 445 KB archive inflates to 518 MiB while every entry on its own passes a ratio cap. No zip tool writes
entries that share bytes, so any overlap refuses the archive. Encrypted entries and compression methods Python
cannot inflate (Deflate64, as Windows Explorer writes for large files; PPMd; Zstandard...) are reported by name
instead of crashing in `ZipFile.open`.
"""

from __future__ import annotations

import itertools
import struct
import zipfile
from pathlib import Path

_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, (version .. sizes), name length, extra length
_LOCAL_SIGNATURE = b"PK\x03\x04"
METHOD_NAMES = {
    1: "Shrink",
    6: "Implode",
    8: "Deflate",
    9: "Deflate64",
    10: "PKWARE Implode",
    12: "bzip2",
    14: "LZMA",
    93: "Zstandard",
    95: "XZ",
    96: "JPEG",
    97: "WavPack",
    98: "PPMd",
    99: "AES encryption",
}


def readable_methods() -> frozenset[int]:
    """Compression methods this Python can inflate (bzip2 and LZMA only when their modules were built)."""
    methods = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
    for method, module in ((zipfile.ZIP_BZIP2, "bz2"), (zipfile.ZIP_LZMA, "lzma")):
        try:
            __import__(module)
            methods.add(method)
        except ImportError:
            pass
    return frozenset(methods)


def unreadable_reason(info: zipfile.ZipInfo) -> str | None:
    """Why the entry cannot be inflated (encrypted, or a method Python lacks), or None when it can."""
    if info.flag_bits & 0x1 or info.compress_type == 99:
        return "is encrypted (password-protected); zip it again without a password"
    if info.compress_type not in readable_methods():
        method = METHOD_NAMES.get(info.compress_type, "an unknown method")
        return (
            f"is compressed with {method} (method {info.compress_type}), which cannot be read; zip it again "
            "with ordinary Deflate (or store it uncompressed)"
        )
    return None


def data_spans(path: Path, infos: list[zipfile.ZipInfo]) -> list[tuple[int, int, zipfile.ZipInfo]]:
    """[start, end) byte offsets of each entry (local header through compressed data), sorted by start.

    Raises `ValueError` with a reason when an entry's local header is missing or its data runs past the file."""
    size = path.stat().st_size
    spans = []
    with path.open("rb") as f:
        for info in infos:
            if not 0 <= info.header_offset < size:  # a damaged end record shifts every offset, even below 0
                raise ValueError(f"entry {info.filename!r} points at offset {info.header_offset}, outside the file")
            f.seek(info.header_offset)
            head = f.read(_LOCAL_HEADER.size)
            if len(head) < _LOCAL_HEADER.size or head[:4] != _LOCAL_SIGNATURE:
                raise ValueError(f"entry {info.filename!r} has no local header at offset {info.header_offset}")
            _, name_len, extra_len = _LOCAL_HEADER.unpack(head)
            end = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len + info.compress_size
            if end > size:
                raise ValueError(f"entry {info.filename!r} runs past the end of the file (truncated archive)")
            spans.append((info.header_offset, end, info))
    return sorted(spans, key=lambda s: (s[0], s[1]))


def first_overlap(spans: list[tuple[int, int, zipfile.ZipInfo]]) -> tuple[zipfile.ZipInfo, zipfile.ZipInfo] | None:
    """Two entries whose bytes overlap, or None. `spans` as `data_spans` gives them."""
    for (_, end_a, a), (start_b, _, b) in itertools.pairwise(spans):
        if start_b < end_a:
            return a, b
    return None
