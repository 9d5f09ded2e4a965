"""User-facing errors, rendered like FastAPI's 422 body.

A `RequestRejected` is a user's mistake: it names the field (or file) and the rule it broke, it is raised before any
billable work, and it is never retried. Infrastructure faults are ordinary exceptions and are retried by the caller.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

TOO_SHORT_MESSAGE = "All training videos are too short to be trainable"


class ErrorDetail(BaseModel):
    """One entry of a 422 body: where (`loc`), what (`msg`) and a machine-readable `type`."""

    model_config = ConfigDict(frozen=True)

    loc: tuple[str | int, ...]
    msg: str
    type: str

    # A message names what the user sent (a zip entry, a caption, a URL); it reaches the run's state, the serving
    # console and API clients, so nothing in it may drive a terminal or start a forged line.
    @field_validator("msg")
    @classmethod
    def _msg_visible(cls, msg: str) -> str:
        return visible(msg)

    @field_validator("loc")
    @classmethod
    def _loc_visible(cls, loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
        return tuple(visible(p) if isinstance(p, str) else p for p in loc)


class RequestRejected(Exception):
    """A request the job refuses, with one or more FastAPI-style detail entries."""

    status = 422

    def __init__(self, details: Iterable[ErrorDetail]):
        self.details = tuple(details)
        assert self.details, "a rejection needs at least one detail"
        super().__init__("; ".join(f"{_loc_text(d.loc)}: {d.msg}" for d in self.details))

    @classmethod
    def one(cls, loc: Sequence[str | int], msg: str, type: str = "value_error") -> RequestRejected:
        return cls([ErrorDetail(loc=tuple(loc), msg=msg, type=type)])

    def body(self) -> dict[str, Any]:
        return {"status": self.status, "detail": [d.model_dump(mode="json") for d in self.details]}

    def to_json(self) -> str:
        return json.dumps(self.body(), indent=2)

    def __reduce__(self):  # picklable, so Prefect can persist a failed state that carries it
        return (type(self), (self.details,))


def visible(text: str) -> str:
    """`text` with every character that is not printable (ESC, line breaks, bidi overrides, ...) written as its
    escape (`\\x1b`, `\\n`, `\\u202e`), so text a user chose can be shown anywhere as one inert line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _loc_text(loc: Sequence[str | int]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "request"
