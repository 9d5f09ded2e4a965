"""An answer that ends a request early."""

from __future__ import annotations

from typing import Any


class Refused(Exception):
    """An answer that ends a request early: an HTTP status and its JSON body."""

    def __init__(self, status_code: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(status_code)
        self.status_code, self.body, self.headers = status_code, body, headers
