"""A submit's body, read and checked with bounded work: a size cap counted as it arrives, a deadline for the whole
body, a cap on keys per JSON object (pydantic makes one error per unknown key, so ten thousand keys are ten thousand
errors), and at most `max_errors` details in the 422 body that answers."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request

from ltxcore.errors import ErrorDetail, RequestRejected
from ltxcore.job.request import ExtendSuffixRequest, parse_request
from ltxcore.job.untrusted_json import load_json
from queue_api.errors import Refused


async def read_body(request: Request, cap: int, timeout_s: float) -> bytes:
    """The body, refused with 413 past `cap` bytes (counted as it arrives: a missing or false length cannot get
    past) and with 408 if it has not all arrived after `timeout_s`."""
    too_big = Refused(413, {"detail": f"the request body is larger than {cap} bytes"})
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise too_big
    body = bytearray()
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                body += chunk
                if len(body) > cap:
                    raise too_big
    except TimeoutError:
        raise Refused(408, {"detail": f"the request body did not arrive within {timeout_s:g} s"}) from None
    return bytes(body)


def parse_job(body: bytes, *, max_keys: int, allow_local: bool) -> ExtendSuffixRequest:
    """The request, or a RequestRejected; CPU work, so the caller runs it off the event loop."""
    data = load_json(body)  # bounded size, depth and numbers
    wide = _widest_object(data, max_keys)
    if wide is not None:
        loc, keys = wide
        where = ".".join(str(p) for p in loc[1:]) or "request"
        msg = f"{where} has {keys} keys; an object of a request has at most {max_keys}"
        raise RequestRejected.one(loc, msg, "too_many_keys")
    return parse_request(data, allow_local=allow_local)


def _widest_object(data: Any, max_keys: int) -> tuple[tuple[str | int, ...], int] | None:
    """The first object with more than `max_keys` keys and its key count (load_json bounds the depth)."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [(("body",), data)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, dict):
            if len(value) > max_keys:
                return loc, len(value)
            stack.extend(((*loc, str(k)), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend(((*loc, i), v) for i, v in enumerate(value))
    return None


def capped_body(exc: RequestRejected, max_errors: int) -> dict[str, Any]:
    """The 422 body with at most `max_errors` details, then one that counts the rest."""
    body = exc.body()
    if len(exc.details) <= max_errors:
        return body
    rest = len(exc.details) - max_errors
    summary = ErrorDetail(loc=("body",), msg=f"and {rest} more mistake(s) not listed", type="too_many_errors")
    return {**body, "detail": [*body["detail"][:max_errors], summary.model_dump(mode="json")]}
