"""Run the queue API under uvicorn, over TLS when given a certificate (fal's client only speaks https), with the
connection bounds uvicorn lacks: a client must send a request's headers, then its body, within a deadline, or the
connection is closed (uvicorn itself waits forever for a partial request)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from queue_api.app import create_app
from queue_api.settings import ApiSettings, is_loopback

log = logging.getLogger(__name__)


class DeadlineProtocol(H11Protocol):
    """HTTP/1.1 whose every request must arrive in time: its headers within `header_timeout` of the connection
    opening (or of the first byte after an idle keep-alive), its body within `body_timeout` of the headers."""

    header_timeout_s = 10.0
    body_timeout_s = 30.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for: object = None
        self._arm(h11.IDLE)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._arm(self.conn.their_state)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._disarm()  # uvicorn's keep-alive timeout covers the idle time until the next request starts

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, state: object) -> None:
        """Start the clock for what the client owes now (headers or body), once per phase; stop it when it is all
        here."""
        if state not in (h11.IDLE, h11.SEND_BODY):
            self._disarm()
            return
        if state == h11.IDLE and self.cycle is not None and not self.cycle.response_complete:
            return  # the next request's bytes wait while this one is answered
        if self._waiting_for is state:
            return
        self._disarm()
        self._waiting_for = state
        wait = self.header_timeout_s if state == h11.IDLE else self.body_timeout_s
        self._deadline = self.loop.call_later(wait, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline, self._waiting_for = None, None

    def _expire(self) -> None:
        self._deadline = None
        log.info("closing a connection from %s: its request did not arrive in time", self.client)
        self.transport.close()


def serve(host: str, port: int, tls_cert: Path | None = None, tls_key: Path | None = None) -> None:
    """Serve until interrupted. Settings come from the environment (EXTEND_SUFFIX_API_*, PREFECT_API_URL), read here
    once."""
    if (tls_cert is None) != (tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together")
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            raise ValueError(f"{path} does not exist")
    settings = ApiSettings.from_env().served_at(host, port, tls=tls_cert is not None)
    if tls_cert is None and not is_loopback(host):
        log.warning("serving plain HTTP on %s: keys and download links cross the network unencrypted", host)
    protocol = type(
        "ApiProtocol",
        (DeadlineProtocol,),
        {"header_timeout_s": settings.header_timeout_s, "body_timeout_s": settings.body_timeout_s},
    )
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        http=protocol,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        log_level="info",
        limit_concurrency=settings.max_connections,
        # Clients keep idle connections open; on shutdown give in-flight polls a moment, not forever.
        timeout_graceful_shutdown=5,
    )
