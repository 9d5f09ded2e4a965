"""The HTTP face: the hosted queue protocol (submit, status, result, cancel) over the Prefect deployment.

Paths as fal's client uses them: it submits to the app path WITH the endpoint (`/{owner}/{app}/{endpoint}`) and builds
status, result and cancel URLs under the app id WITHOUT it (`/{owner}/{app}/requests/{id}...`); the form with the
endpoint is served as well. Every queue route sits on one router whose dependencies check the key and then the app
path, so a route added there cannot skip either; the signed download route is on its own router, without a key.

Nothing slow runs on the event loop: parsing a body runs on a small pool of its own and every Prefect call goes
through the gate (its own threads, bounded, with timeouts), so a 401 or a file download never waits behind either.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ltxcore.errors import RequestRejected
from queue_api.body import capped_body
from queue_api.errors import Refused
from queue_api.routes import Services, file_router, queue_router
from queue_api.settings import ApiSettings

log = logging.getLogger(__name__)


def create_app(settings: ApiSettings) -> FastAPI:
    if not settings.public_url:
        raise ValueError("the API needs its public URL (ApiSettings.served_at fills it in)")
    app = FastAPI(title="extend-suffix queue API", docs_url=None, redoc_url=None, openapi_url=None)
    services = Services(settings)
    app.state.routers = (queue_router(services), file_router(services))  # every route there is: a test lists them
    for router in app.state.routers:
        app.include_router(router)

    @app.exception_handler(Refused)
    async def _refused(_: Request, exc: Refused) -> JSONResponse:
        return JSONResponse(exc.body, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestRejected)
    async def _rejected(_: Request, exc: RequestRejected) -> JSONResponse:
        return JSONResponse(capped_body(exc, settings.max_errors), exc.status)

    @app.exception_handler(Exception)
    async def _failed(request: Request, exc: Exception) -> JSONResponse:
        # The details (a path, a Prefect message) are for the server's log; the client gets JSON it can parse.
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": "internal error; the server's log has the details"}, 500)

    return app
