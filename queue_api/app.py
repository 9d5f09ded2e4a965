"""The HTTP face: the hosted queue protocol (submit, status, result, cancel) over the Prefect deployment.

Paths as fal's client uses them: it submits to the app path WITH the endpoint (`/{owner}/{app}/{endpoint}`) and builds
status, result and cancel URLs under the app id WITHOUT it (`/{owner}/{app}/requests/{id}...`); the form with the
endpoint is served as well. Every route but the signed download route needs `Authorization: Key <key>`.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.exceptions import ObjectNotFound

from flows.remote import submit_request
from ltxcore.errors import RequestRejected
from ltxcore.job.request import parse_request
from queue_api import runs
from queue_api.auth import authenticate, owner_tag
from queue_api.ids import parse_request_id
from queue_api.settings import ApiSettings
from queue_api.urls import FILE_ROUTE, FileSigner, downloadable, queue_urls


class _Refused(Exception):
    """An answer that ends a request early: an HTTP status and its JSON body."""

    def __init__(self, status_code: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        self.status_code, self.body, self.headers = status_code, body, headers


def create_app(settings: ApiSettings) -> FastAPI:
    app = FastAPI(title="extend-suffix queue API", docs_url=None, redoc_url=None, openapi_url=None)
    signer = FileSigner(settings.url_secret, settings.url_ttl_s, settings.output_root)
    served = f"{settings.app_id}/{settings.endpoint}"

    @app.exception_handler(_Refused)
    async def _refused(_: Request, exc: _Refused) -> JSONResponse:
        return JSONResponse(exc.body, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestRejected)
    async def _rejected(_: Request, exc: RequestRejected) -> JSONResponse:
        return JSONResponse(exc.body(), exc.status)

    def caller(request: Request) -> str:
        """The caller's owner tag; 401 before anything else happens for a missing or unknown key."""
        digest = authenticate(request.headers.get("authorization"), settings.key_digests)
        if digest is None:
            body = {"detail": "a valid API key is required: send 'Authorization: Key <key>'"}
            raise _Refused(401, body, {"WWW-Authenticate": "Key"})
        return owner_tag(digest)

    def check_app(owner: str, app_name: str, endpoint: str | None = None) -> None:
        if f"{owner}/{app_name}" != settings.app_id or endpoint not in (None, settings.endpoint):
            path = "/".join(p for p in (owner, app_name, endpoint) if p)
            raise _Refused(404, {"detail": f"no app at {path!r}: this server serves {served!r}"})

    def base_url(request: Request) -> str:
        return settings.public_url or str(request.base_url)

    async def read_body(request: Request) -> bytes:
        cap = settings.max_body_bytes
        too_big = _Refused(413, {"detail": f"the request body is larger than {cap} bytes"})
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise too_big
        body = bytearray()
        async for chunk in request.stream():  # counted as it arrives: a missing or false length cannot get past
            body += chunk
            if len(body) > cap:
                raise too_big
        return bytes(body)

    def owned_run(request_id: str, tag: str) -> FlowRun:
        """The caller's run, or 404; the id is checked before Prefect is asked."""
        run_id = parse_request_id(request_id)
        with get_client(sync_client=True) as client:
            run = runs.read_owned(client, run_id, tag)
        if run is None:
            raise _Refused(404, {"detail": f"request {request_id} not found"})
        return run

    def answer(body: dict[str, Any], request_id: UUID | str, status_code: int = 200) -> JSONResponse:
        return JSONResponse(body, status_code, headers={"X-Fal-Request-Id": str(request_id)})

    @app.post("/{owner}/{app_name}/{endpoint}")
    async def submit(owner: str, app_name: str, endpoint: str, request: Request) -> JSONResponse:
        tag = caller(request)
        check_app(owner, app_name, endpoint)
        # The same check as everywhere, before anything exists: a bad request creates no flow run.
        job = parse_request(await read_body(request), allow_local=settings.allow_local_inputs)

        def create() -> tuple[UUID, int]:
            try:
                run_id = submit_request(settings.deployment, job, tags=[tag])
            except ObjectNotFound:
                raise _Refused(503, {"detail": f"the deployment {settings.deployment!r} is not served"}) from None
            with get_client(sync_client=True) as client:
                return run_id, runs.queue_position(client, client.read_flow_run(run_id))

        run_id, position = await run_in_threadpool(create)
        body = {"request_id": str(run_id), **queue_urls(base_url(request), settings.app_id, str(run_id))}
        return answer({**body, "queue_position": position}, run_id)

    def status(request: Request, tag: str, request_id: str, logs: str | None) -> JSONResponse:
        run = owned_run(request_id, tag)
        with_logs = (logs or "").lower() in ("1", "true", "yes")
        with get_client(sync_client=True) as client:
            body: dict[str, Any] = {
                "status": runs.queue_status(client, run),  # before the logs: COMPLETED means they are all there
                "request_id": str(run.id),
                **queue_urls(base_url(request), settings.app_id, str(run.id)),
                "logs": None,
            }
            if body["status"] == "IN_QUEUE":
                body["queue_position"] = runs.queue_position(client, run)
            if with_logs:
                body["logs"] = runs.run_logs(client, run.id)
            if body["status"] == "COMPLETED":
                done = runs.outcome(client, run)
                body["metrics"] = {"inference_time": run.total_run_time.total_seconds()}
                if done.error is not None:
                    body["error"], body["error_type"] = done.error, done.error_type
        return answer(body, request_id)

    def result(request: Request, tag: str, request_id: str) -> JSONResponse:
        run = owned_run(request_id, tag)
        with get_client(sync_client=True) as client:
            if runs.queue_status(client, run) != "COMPLETED":
                return answer({"detail": "the request is still in progress"}, request_id, 400)
            done = runs.outcome(client, run)
        body = downloadable(done.body, base_url(request), signer) if done.status_code == 200 else done.body
        return answer(body, request_id, done.status_code)

    def cancel(request: Request, tag: str, request_id: str) -> JSONResponse:
        run = owned_run(request_id, tag)
        with get_client(sync_client=True) as client:
            cancelled = runs.cancel(client, run)
        if not cancelled:
            return answer({"status": "ALREADY_COMPLETED"}, request_id, 400)
        return answer({"status": "CANCELLATION_REQUESTED"}, request_id, 202)

    # Both URL forms, each checking the app path before anything else is looked at.
    @app.get("/{owner}/{app_name}/requests/{request_id}/status")
    def status_route(owner: str, app_name: str, request_id: str, request: Request, logs: str | None = None):
        tag = caller(request)
        check_app(owner, app_name)
        return status(request, tag, request_id, logs)

    @app.get("/{owner}/{app_name}/{endpoint}/requests/{request_id}/status")
    def status_route_endpoint(
        owner: str, app_name: str, endpoint: str, request_id: str, request: Request, logs: str | None = None
    ):
        tag = caller(request)
        check_app(owner, app_name, endpoint)
        return status(request, tag, request_id, logs)

    @app.get("/{owner}/{app_name}/requests/{request_id}")
    def result_route(owner: str, app_name: str, request_id: str, request: Request):
        tag = caller(request)
        check_app(owner, app_name)
        return result(request, tag, request_id)

    @app.get("/{owner}/{app_name}/{endpoint}/requests/{request_id}")
    def result_route_endpoint(owner: str, app_name: str, endpoint: str, request_id: str, request: Request):
        tag = caller(request)
        check_app(owner, app_name, endpoint)
        return result(request, tag, request_id)

    @app.put("/{owner}/{app_name}/requests/{request_id}/cancel")
    def cancel_route(owner: str, app_name: str, request_id: str, request: Request):
        tag = caller(request)
        check_app(owner, app_name)
        return cancel(request, tag, request_id)

    @app.put("/{owner}/{app_name}/{endpoint}/requests/{request_id}/cancel")
    def cancel_route_endpoint(owner: str, app_name: str, endpoint: str, request_id: str, request: Request):
        tag = caller(request)
        check_app(owner, app_name, endpoint)
        return cancel(request, tag, request_id)

    @app.get(FILE_ROUTE + "/{token}/{file_name}")
    def download(token: str, file_name: str) -> FileResponse:
        """An output file, for a valid unexpired token: the token is the authority, so no key is needed."""
        path = signer.path(token)
        if path is None or path.name != file_name:
            raise _Refused(404, {"detail": "this download link is invalid or has expired"})
        return FileResponse(path, filename=path.name)

    return app
