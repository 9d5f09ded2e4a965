"""Reading a request's JSON without trusting it: bounded size and nesting, and only finite numbers of sane length.

Python's `json` module accepts `NaN` and `Infinity`, turns `1e400` into `inf`, raises a bare `ValueError` for an
integer of more than 4300 digits and a `RecursionError` for deep nesting. Each of those is a user's mistake here: a
`RequestRejected` whose `loc` names the top-level field it sits in.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ltxcore.errors import ErrorDetail, RequestRejected

Loc = tuple[str | int, ...]

MAX_REQUEST_BYTES = 1 << 20  # a request is a few hundred bytes; a megabyte is already absurd
MAX_DEPTH = 16  # the contract nests three levels (body -> validation -> entry); sixteen is generous
MAX_INT_DIGITS = 30  # every integer of the contract has at most 5 digits; more is a typo or an attack


class _BadNumber:
    """A number token that must not reach validation: `NaN`, `Infinity`, an overflowing float, a huge integer."""

    def __init__(self, token: str, kind: str):
        self.token = token
        self.kind = kind


def load_json(text: str | bytes) -> Any:
    """Parse untrusted JSON text; `RequestRejected` for oversize, malformed or too deeply nested input."""
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_REQUEST_BYTES:
        raise RequestRejected.one(
            ("body",), f"request is larger than the limit of {MAX_REQUEST_BYTES} bytes", "request_too_large"
        )
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise RequestRejected.one(
                ("body",), f"request is not UTF-8 text (byte {exc.start})", "json_invalid"
            ) from None
    deep = _too_deep(text)
    if deep is not None:
        raise RequestRejected.one(
            deep, f"{_name(deep)} is nested more than {MAX_DEPTH} levels deep", "nesting_too_deep"
        )
    try:
        data = json.loads(text, parse_constant=_constant, parse_int=_int, parse_float=_float, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        raise RequestRejected.one(("body",), f"request is not valid JSON: {exc}", "json_invalid") from None
    except RecursionError:  # _too_deep bounds the nesting; kept so that no input can ever end in a traceback
        raise RequestRejected.one(("body",), "request is nested too deeply", "nesting_too_deep") from None
    bad_text = _text_errors(data)
    if bad_text:
        raise RequestRejected(bad_text)
    return data


class _Repeated(dict):
    """A JSON object in which some key appeared more than once (json keeps the last silently)."""

    repeated: dict[str, int]


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) == len(pairs):
        return found
    out = _Repeated(found)
    out.repeated = {k: n for k in found if (n := sum(1 for key, _ in pairs if key == k)) > 1}
    return out


def _text_errors(data: Any) -> list[ErrorDetail]:
    """What the parser let through but the text cannot mean, in one walk of the parsed JSON (its depth is bounded by
    `_too_deep` already): every string or key holding a lone surrogate such as a `\\ud800` escape (JSON allows the
    escape, but the text is not Unicode and cannot be written back out as UTF-8, nor serialised into a 422 body), and
    every key given twice in one object (which value was meant is the user's to say, not the parser's: the last would
    win, e.g. a second `training_data_url` after the first one a reviewer saw)."""
    errors: list[ErrorDetail] = []
    stack: list[tuple[Loc, Any]] = [(("body",), data)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, _Repeated):
            for key, times in value.repeated.items():
                where = (*loc, _printable(key))
                msg = f"{_name(where)} appears {times} times; give each field once"
                errors.append(ErrorDetail(loc=where, msg=msg, type="duplicate_key"))
        if isinstance(value, dict):
            for key, item in value.items():
                if _lone_surrogate(key) is not None:
                    errors.append(_surrogate_error((*loc, _printable(key)), key))
                else:
                    stack.append(((*loc, key), item))
        elif isinstance(value, list):
            stack.extend(((*loc, i), v) for i, v in enumerate(value))
        elif isinstance(value, str) and _lone_surrogate(value) is not None:
            errors.append(_surrogate_error(loc, value))
    return sorted(errors, key=lambda e: [str(p) for p in e.loc])


def _lone_surrogate(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return text[exc.start]
    return None


def _surrogate_error(loc: Loc, text: str) -> ErrorDetail:
    char = _lone_surrogate(text) or ""
    return ErrorDetail(
        loc=loc,
        type="string_unicode",
        msg=f"{_name(loc)} is not valid Unicode text (a lone surrogate \\u{ord(char):04x})",
    )


def _printable(text: str) -> str:
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


def value_errors(data: Any) -> list[ErrorDetail]:
    """Every non-finite or oversized number and every over-deep container in parsed data (JSON or a Python dict)."""
    errors: list[ErrorDetail] = []
    stack: list[tuple[Loc, Any]] = [(("body",), data)]
    while stack:  # iterative, so a dict nested a million levels deep cannot exhaust the stack
        loc, value = stack.pop()
        if isinstance(value, dict | list) and len(loc) > MAX_DEPTH:
            errors.append(
                ErrorDetail(
                    loc=loc[:2],
                    msg=f"{_name(loc[:2])} is nested more than {MAX_DEPTH} levels deep",
                    type="nesting_too_deep",
                )
            )
        elif isinstance(value, dict):
            stack.extend(((*loc, str(k)), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend(((*loc, i), v) for i, v in enumerate(value))
        else:
            error = _number_error(loc, value)
            if error is not None:
                errors.append(error)
    return sorted(set(errors), key=lambda e: [str(p) for p in e.loc])


def _number_error(loc: Loc, value: Any) -> ErrorDetail | None:
    if isinstance(value, _BadNumber):
        if value.kind == "huge_int":
            return ErrorDetail(
                loc=loc,
                type="number_too_large",
                msg=f"{_name(loc)} is an integer of {len(value.token.lstrip('-'))} digits; numbers "
                f"have at most {MAX_INT_DIGITS}",
            )
        return ErrorDetail(
            loc=loc, type="finite_number", msg=f"{_name(loc)} must be a finite number (got {value.token[:40]})"
        )
    if isinstance(value, float) and not math.isfinite(value):
        return ErrorDetail(loc=loc, type="finite_number", msg=f"{_name(loc)} must be a finite number (got {value})")
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 100:
        return ErrorDetail(
            loc=loc,
            type="number_too_large",
            msg=f"{_name(loc)} is an integer of about {int(value.bit_length() * 0.30103)} digits; "
            f"numbers have at most {MAX_INT_DIGITS}",
        )
    return None


def _constant(token: str) -> _BadNumber:
    return _BadNumber(token, "non_finite")  # NaN, Infinity, -Infinity


def _int(token: str) -> int | _BadNumber:
    return _BadNumber(token, "huge_int") if len(token.lstrip("-")) > MAX_INT_DIGITS else int(token)


def _float(token: str) -> float | _BadNumber:
    value = float(token)
    return value if math.isfinite(value) else _BadNumber(token, "non_finite")  # 1e400 overflows to inf


def _too_deep(text: str) -> Loc | None:
    """Where the nesting first passes MAX_DEPTH: ("body", <top-level key>), or None. A scan of the raw text, since
    the parser itself would recurse once per level."""
    depth, in_string, escaped, start, last_key = 0, False, False, 0, None
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
                if depth == 1:
                    last_key = text[start:i]  # the last string at the top level before a value opens is its key
            continue
        if ch == '"':
            in_string, start = True, i + 1
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return ("body",) if last_key is None or text.lstrip()[:1] != "{" else ("body", _unescape(last_key))
        elif ch in "]}":
            depth -= 1
    return None


def _unescape(raw: str) -> str:
    try:
        return str(json.loads(f'"{raw}"'))
    except json.JSONDecodeError:
        return raw


def _name(loc: Loc) -> str:
    return ".".join(str(p) for p in loc[1:]) or "request"
