"""Run the queue API under uvicorn, over TLS when given a certificate (fal's client only speaks https)."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from queue_api.app import create_app
from queue_api.settings import ApiSettings


def serve(host: str, port: int, tls_cert: Path | None = None, tls_key: Path | None = None) -> None:
    """Serve until interrupted. Settings come from the environment (EXTEND_SUFFIX_API_*, PREFECT_API_URL)."""
    if (tls_cert is None) != (tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together")
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            raise ValueError(f"{path} does not exist")
    app = create_app(ApiSettings.from_env())
    uvicorn.run(
        app,
        host=host,
        port=port,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        log_level="info",
        # Clients keep idle connections open; on shutdown give in-flight polls a moment, not forever.
        timeout_graceful_shutdown=5,
    )
