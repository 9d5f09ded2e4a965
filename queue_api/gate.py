"""Every call to Prefect goes through one gate: on its own threads (never the ones that answer 401s or serve files),
a bounded number in flight overall and per key, each HTTP call with a timeout and no retries. A Prefect that is
down, hanging or saturated is a JSON 503 with `Retry-After`, never a hang or a text/plain 500."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import anyio
import httpx
from anyio import CapacityLimiter
from prefect.exceptions import PrefectHTTPStatusError
from prefect.settings import PREFECT_API_REQUEST_TIMEOUT, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

from queue_api.errors import Refused

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_AFTER_S = 5
BUSY_TRIES = 3


def unavailable(detail: str) -> Refused:
    return Refused(503, {"detail": detail}, {"Retry-After": str(RETRY_AFTER_S)})


class PrefectGate:
    """Runs blocking Prefect work with bounds; `calls` overall, `per_key` for one owner tag."""

    def __init__(self, calls: int, per_key: int, timeout_s: float):
        self._limiter = CapacityLimiter(calls)
        self._calls, self._per_key, self._timeout_s = calls, per_key, timeout_s
        self._lock = threading.Lock()
        self._in_flight: Counter[str] = Counter()

    async def run(self, tag: str, work: Callable[[], T]) -> T:
        with self._slot(tag):
            return await anyio.to_thread.run_sync(self._bounded, work, limiter=self._limiter)

    @contextmanager
    def _slot(self, tag: str) -> Iterator[None]:
        # Refused at once rather than queued: a queue in front of a hanging Prefect only grows.
        with self._lock:
            if sum(self._in_flight.values()) >= self._calls:
                raise unavailable("the server is busy: too many requests to the job queue at once; retry shortly")
            if self._in_flight[tag] >= self._per_key:
                raise unavailable(f"this key has {self._per_key} requests in progress already; retry shortly")
            self._in_flight[tag] += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[tag] -= 1
                if self._in_flight[tag] <= 0:
                    del self._in_flight[tag]

    def _bounded(self, work: Callable[[], T]) -> T:
        # Prefect's client retries a failed call up to five times with backoff (over a minute, and a hanging server
        # times out on every try): here a timeout or a refused connection ends the request at once, and only an
        # answer that says "busy" (a 5xx, 408, 429: a server under load, e.g. its database locked) is tried again,
        # twice, soon.
        updates = {PREFECT_API_REQUEST_TIMEOUT: self._timeout_s, PREFECT_CLIENT_MAX_RETRIES: 0}
        for attempt in range(BUSY_TRIES):
            try:
                with temporary_settings(updates=updates):
                    return work()
            except httpx.TimeoutException:
                log.warning("the Prefect API did not answer within %.1f s", self._timeout_s)
                raise unavailable("the job queue is not answering; retry shortly") from None
            except httpx.TransportError as exc:
                log.warning("the Prefect API cannot be reached: %s", exc)
                raise unavailable("the job queue cannot be reached; retry shortly") from None
            except PrefectHTTPStatusError as exc:
                code = exc.response.status_code
                if code < 500 and code not in (408, 429):
                    raise
                log.warning("the Prefect API answered %d (try %d of %d)", code, attempt + 1, BUSY_TRIES)
                time.sleep(0.5 * 2**attempt)
        raise unavailable("the job queue is busy; retry shortly")
