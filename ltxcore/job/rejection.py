"""How a rejected request reads in the Prefect UI and in a run's final state: one sentence for the state message,
and a markdown artifact that lists every mistake and holds the 422 body (pretty-printed, with 0 billable units)."""

from __future__ import annotations

import json
from typing import Any

from ltxcore.errors import RequestRejected


def rejection_body(exc: RequestRejected) -> dict[str, Any]:
    """The 422 body plus the bill: a rejected request costs nothing."""
    return {**exc.body(), "billable_units": 0}


def rejection_message(exc: RequestRejected) -> str:
    """The run's final state message: the first mistake in one sentence, and how many more the artifact lists."""
    first = exc.details[0]
    more = f" (and {len(exc.details) - 1} more problem(s))" if len(exc.details) > 1 else ""
    return f"Request rejected: {first.msg}{more}. Nothing was billed."


def rejection_markdown(exc: RequestRejected) -> str:
    """Every mistake as a list item naming its field, then the 422 body as indented JSON (readers parse the block
    between the ```json fence and the last fence)."""
    items = [f"- `{_where(d.loc)}`: {d.msg}" for d in exc.details]
    body = json.dumps(rejection_body(exc), indent=2)
    return "\n".join(
        [
            f"**Request rejected (422): {len(exc.details)} mistake(s), 0 billable units**",
            "",
            *items,
            "",
            "```json",
            body,
            "```",
        ]
    )


def _where(loc: tuple[str | int, ...]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "request"
