"""Captions: which `.txt` belongs to which video, and whether its bytes are text at all.

A caption pairs with the video of the same path and base name, compared case-insensitively on the whole name
(`B.tXt` captions `B.MkV`), because archives made on Windows and macOS mix cases freely. An exact-case match wins
over a case-insensitive one; two case-insensitive candidates and no exact one are ambiguous, and the clip is
skipped rather than trained on the wrong text.

The bytes must be UTF-8 (a BOM is fine) or UTF-16 with a BOM (Notepad's "Unicode"). UTF-16 without a BOM is valid
UTF-8 full of NULs, so any caption that decodes to NULs or other control characters is refused too: training on
such text would teach the trigger phrase next to garbage.
"""

from __future__ import annotations

import codecs
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from pathlib import PurePosixPath

CAPTION_EXTENSION = ".txt"
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v")


class CaptionError(ValueError):
    """The caption cannot be used; `reason` says why, naming the file."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class CaptionIndex:
    """The archive's `.txt` names, looked up by video path without regard to case."""

    def __init__(self, names: Iterable[str]):
        self._by_stem: dict[str, list[str]] = defaultdict(list)
        for name in names:
            if PurePosixPath(name).suffix.lower() == CAPTION_EXTENSION:
                self._by_stem[_stem(name).lower()].append(name)

    def caption_for(self, video: str) -> str | None:
        """The caption's name for `video`, None when it has none; `CaptionError` when the match is ambiguous."""
        stem = _stem(video)
        candidates = sorted(self._by_stem.get(stem.lower(), []))
        exact = [c for c in candidates if _stem(c) == stem]
        if len(exact) == 1 or len(candidates) == 1:
            return (exact or candidates)[0]
        if not candidates:
            return None
        raise CaptionError(f"its caption is ambiguous: {', '.join(candidates)} all match; keep one")


def decode_caption(raw: bytes, name: str) -> str:
    """Caption text with whitespace collapsed to single spaces; `CaptionError` naming `name` when it is not text."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise CaptionError(f"its caption {name} is not valid UTF-16 text (byte {exc.start})") from None
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise CaptionError(f"its caption {name} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    controls = control_characters(text)
    if controls:
        hint = " (it looks like UTF-16 without a byte-order mark)" if "\x00" in controls else ""
        raise CaptionError(
            f"its caption {name} holds control characters ({code_points(controls)}){hint}; save it as UTF-8 text"
        )
    return " ".join(text.split())


def control_characters(text: str) -> list[str]:
    """The control characters in `text` other than tabs and line breaks, sorted: what plain text (a caption, a
    prompt, a trigger phrase) may not hold."""
    return sorted({c for c in text if unicodedata.category(c) == "Cc" and c not in _ALLOWED_CONTROLS})


def code_points(chars: list[str]) -> str:
    return ", ".join(f"U+{ord(c):04X}" for c in chars[:4])


def _stem(name: str) -> str:
    return str(PurePosixPath(name).with_suffix(""))
