"""The routers: the queue protocol behind the key and app-path checks, and the signed download route.

No `from __future__ import annotations` here: FastAPI reads the routes' annotations at definition time, and the
dependency they name (`Tag`) is local to the router's factory.
"""

import threading
from collections import defaultdict
from typing import Annotated, Any
from uuid import UUID

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.exceptions import ObjectNotFound

from flows.remote import submit_request
from ltxcore.job.request import ExtendSuffixRequest
from queue_api import runs
from queue_api.auth import authenticate, owner_tag
from queue_api.body import parse_job, read_body
from queue_api.errors import Refused
from queue_api.gate import PrefectGate, unavailable
from queue_api.ids import parse_request_id
from queue_api.settings import ApiSettings
from queue_api.urls import FILE_ROUTE, FileSigner, downloadable, queue_urls

PARSE_THREADS = 2  # parsing is CPU work: more threads than cores only make every parse slower


class Services:
    """What the routes share, built once from the settings."""

    def __init__(self, settings: ApiSettings):
        assert settings.public_url
        self.settings, self.base_url = settings, settings.public_url
        self.signer = FileSigner(settings.url_secret, settings.url_ttl_s, settings.output_root)
        self.gate = PrefectGate(settings.prefect_calls, settings.prefect_calls_per_key, settings.prefect_timeout_s)
        self.parse_limiter = anyio.CapacityLimiter(PARSE_THREADS)
        self._submit_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)

    def submit_lock(self, tag: str) -> threading.Lock:
        """One submit at a time per key, so two at once cannot both pass the runs-in-progress check."""
        return self._submit_locks[tag]


def queue_router(services: Services) -> APIRouter:
    settings = services.settings
    served = f"{settings.app_id}/{settings.endpoint}"

    async def caller(request: Request) -> str:
        """The caller's owner tag; 401 before anything else happens for a missing or unknown key."""
        digest = authenticate(request.headers.get("authorization"), settings.key_digests)
        if digest is None:
            body = {"detail": "a valid API key is required: send 'Authorization: Key <key>'"}
            raise Refused(401, body, {"WWW-Authenticate": "Key"})
        return owner_tag(digest)

    async def served_app(owner: str, app_name: str, request: Request) -> None:
        """404 for any app path but the one served (with or without its endpoint)."""
        endpoint = request.path_params.get("endpoint")
        if f"{owner}/{app_name}" != settings.app_id or endpoint not in (None, settings.endpoint):
            raise Refused(404, {"detail": f"no app at this path: this server serves {served!r}"})

    # Router dependencies run in this order before any route: the key, then the app path.
    router = APIRouter(dependencies=[Depends(caller), Depends(served_app)])
    Tag = Annotated[str, Depends(caller)]  # the same call, cached for the request: the route gets its result

    def owned_run(client: Any, request_id: str, tag: str) -> FlowRun:
        """The caller's run, or 404; the id is checked before Prefect is asked."""
        run = runs.read_owned(client, parse_request_id(request_id), tag)
        if run is None:
            raise Refused(404, {"detail": f"request {request_id} not found"})
        return run

    def answer(body: dict[str, Any], request_id: UUID | str, status_code: int = 200) -> JSONResponse:
        return JSONResponse(body, status_code, headers={"X-Fal-Request-Id": str(request_id)})

    def create(job: ExtendSuffixRequest, tag: str) -> tuple[UUID, int]:
        with services.submit_lock(tag):
            with get_client(sync_client=True) as client:
                if runs.runs_in_progress(client, tag) >= settings.runs_per_key:
                    detail = f"this key has {settings.runs_per_key} requests waiting or running; wait for one to end"
                    raise Refused(429, {"detail": detail}, {"Retry-After": "60"})
            try:
                run_id = submit_request(settings.deployment, job, tags=[tag])
            except ObjectNotFound:
                raise unavailable(f"the deployment {settings.deployment!r} is not served") from None
        with get_client(sync_client=True) as client:
            return run_id, runs.queue_position(client, client.read_flow_run(run_id))

    @router.post("/{owner}/{app_name}/{endpoint}")
    async def submit(tag: Tag, request: Request) -> JSONResponse:
        body = await read_body(request, settings.max_body_bytes, settings.body_timeout_s)
        # The same check as everywhere, before anything exists: a bad request creates no flow run.
        job = await anyio.to_thread.run_sync(
            lambda: parse_job(body, max_keys=settings.max_keys, allow_local=settings.allow_local_inputs),
            limiter=services.parse_limiter,
        )
        run_id, position = await services.gate.run(tag, lambda: create(job, tag))
        urls = queue_urls(services.base_url, settings.app_id, str(run_id))
        return answer({"request_id": str(run_id), **urls, "queue_position": position}, run_id)

    def read_status(tag: str, request_id: str, with_logs: bool) -> dict[str, Any]:
        with get_client(sync_client=True) as client:
            run = owned_run(client, request_id, tag)
            body: dict[str, Any] = {
                "status": runs.queue_status(client, run),  # before the logs: COMPLETED means they are all there
                "request_id": str(run.id),
                **queue_urls(services.base_url, settings.app_id, str(run.id)),
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
        return body

    @router.get("/{owner}/{app_name}/requests/{request_id}/status")
    @router.get("/{owner}/{app_name}/{endpoint}/requests/{request_id}/status")
    async def status(tag: Tag, request_id: str, logs: str | None = None) -> JSONResponse:
        with_logs = (logs or "").lower() in ("1", "true", "yes")
        return answer(await services.gate.run(tag, lambda: read_status(tag, request_id, with_logs)), request_id)

    def read_result(tag: str, request_id: str) -> tuple[int, dict[str, Any]]:
        with get_client(sync_client=True) as client:
            run = owned_run(client, request_id, tag)
            if runs.queue_status(client, run) != "COMPLETED":
                return 400, {"detail": "the request is still in progress"}
            done = runs.outcome(client, run)
        if done.status_code != 200:
            return done.status_code, done.body
        return 200, downloadable(done.body, services.base_url, services.signer)

    @router.get("/{owner}/{app_name}/requests/{request_id}")
    @router.get("/{owner}/{app_name}/{endpoint}/requests/{request_id}")
    async def result(tag: Tag, request_id: str) -> JSONResponse:
        code, body = await services.gate.run(tag, lambda: read_result(tag, request_id))
        return answer(body, request_id, code)

    def do_cancel(tag: str, request_id: str) -> tuple[int, dict[str, Any]]:
        with get_client(sync_client=True) as client:
            cancelled = runs.cancel(client, owned_run(client, request_id, tag))
        if cancelled is None:
            return 409, {"detail": "the job queue did not accept the cancellation; retry"}
        if not cancelled:
            return 400, {"status": "ALREADY_COMPLETED"}
        return 202, {"status": "CANCELLATION_REQUESTED"}

    @router.put("/{owner}/{app_name}/requests/{request_id}/cancel")
    @router.put("/{owner}/{app_name}/{endpoint}/requests/{request_id}/cancel")
    async def cancel(tag: Tag, request_id: str) -> JSONResponse:
        code, body = await services.gate.run(tag, lambda: do_cancel(tag, request_id))
        return answer(body, request_id, code)

    return router


def file_router(services: Services) -> APIRouter:
    router = APIRouter()

    @router.get(FILE_ROUTE + "/{token}/{file_name}")
    async def download(token: str, file_name: str) -> FileResponse:
        """An output file, for a valid unexpired token: the token is the authority, so no key is needed."""
        path = services.signer.path(token)
        if path is None or path.name != file_name:
            raise Refused(404, {"detail": "this download link is invalid or has expired"})
        return FileResponse(path, filename=path.name)

    return router
