"""Request ids: Prefect flow-run ids, accepted only in canonical UUID form."""

from __future__ import annotations

from uuid import UUID

from ltxcore.errors import RequestRejected


def parse_request_id(text: str) -> UUID:
    """The flow-run id in `text`, or a RequestRejected (422) before anything asks Prefect about it."""
    try:
        value = UUID(text)
    except ValueError:
        value = None
    if value is None or str(value) != text.lower():  # no braces, urn: prefixes or missing dashes
        msg = f"request_id must be a UUID (got {text[:64]!r})"
        raise RequestRejected.one(("path", "request_id"), msg, "uuid_parsing")
    return value
