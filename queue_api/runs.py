"""The Prefect side of the queue API: read, queue position, logs, outcome and cancel of one key's flow runs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
    LogFilter,
    LogFilterFlowRunId,
    TaskRunFilter,
    TaskRunFilterId,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.responses import SetStateStatus
from prefect.client.schemas.sorting import LogSort
from prefect.exceptions import ObjectNotFound
from prefect.states import Cancelled, Cancelling

from flows.remote import logs_settled, result_artifact
from ltxcore.errors import visible

log = logging.getLogger(__name__)

# Prefect states as the queue protocol names them. PAUSED and CANCELLING are still in progress: the run holds its slot.
WAITING = (StateType.SCHEDULED, StateType.PENDING)
FINAL = (StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED)
ACTIVE = tuple(s for s in StateType if s not in FINAL)  # what counts against a key's runs in progress
MAX_LOG_LINES = 5000  # a status poll never pages through more than this
PAGE = 200  # the most rows the Prefect API returns at once


def read_owned(client: SyncPrefectClient, run_id: UUID, tag: str) -> FlowRun | None:
    """The run, if it exists and carries the caller's owner tag; another key's run is as absent as a missing one."""
    try:
        run = client.read_flow_run(run_id)
    except ObjectNotFound:
        return None
    return run if tag in (run.tags or []) else None


def queue_status(client: SyncPrefectClient, run: FlowRun) -> str:
    """IN_QUEUE, IN_PROGRESS or COMPLETED; a run that has just finished stays IN_PROGRESS until its last log lines
    have reached the API, so a COMPLETED status (the last one a client reads) carries all of them."""
    state = run.state.type if run.state else StateType.SCHEDULED
    if state in WAITING:
        return "IN_QUEUE"
    if state in FINAL and logs_settled(client, run):
        return "COMPLETED"
    return "IN_PROGRESS"


def runs_in_progress(client: SyncPrefectClient, tag: str) -> int:
    """How many runs carrying `tag` wait or run."""
    return client.count_flow_runs(
        flow_run_filter=FlowRunFilter(
            tags=FlowRunFilterTags(all_=[tag]), state=FlowRunFilterState(type=FlowRunFilterStateType(any_=list(ACTIVE)))
        )
    )


def queue_position(client: SyncPrefectClient, run: FlowRun) -> int:
    """How many runs of the same deployment wait ahead of this one (0: next to start), whoever submitted them."""
    ahead_or_same = client.count_flow_runs(
        flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[run.deployment_id]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=list(WAITING))),
            expected_start_time=FlowRunFilterExpectedStartTime(before_=run.expected_start_time),  # inclusive
        )
    )
    return max(0, ahead_or_same - 1)  # not counting the run itself


def run_logs(client: SyncPrefectClient, run_id: UUID) -> list[dict[str, Any]]:
    """The run's Prefect logs (the flow's and every stage's), oldest first, as the protocol's log entries; a stage's
    lines start with its name (`[train-lora] ...`), since a bare "Finished in state Completed()" says little. Line
    breaks and control characters in a message are written as escapes: a line can quote a user's file name."""
    found = []
    while len(found) < MAX_LOG_LINES:
        page = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])),
            sort=LogSort.TIMESTAMP_ASC,
            offset=len(found),
            limit=PAGE,
        )
        found.extend(page)
        if len(page) < PAGE:
            break
    stages = _stage_names(client, {log.task_run_id for log in found if log.task_run_id})
    return [
        {
            "message": visible(
                f"[{stages[log.task_run_id]}] {log.message}" if log.task_run_id in stages else log.message
            ),
            "level": logging.getLevelName(log.level),
            "source": "user",
            "timestamp": log.timestamp.isoformat(),
        }
        for log in found
    ]


def _stage_names(client: SyncPrefectClient, task_run_ids: set[UUID]) -> dict[UUID, str]:
    """Stage name per task run: the task run's name without Prefect's random suffix (`fetch-archive-3c1`)."""
    names: dict[UUID, str] = {}
    ids = sorted(task_run_ids)
    for start in range(0, len(ids), PAGE):
        chunk = ids[start : start + PAGE]
        for task_run in client.read_task_runs(
            task_run_filter=TaskRunFilter(id=TaskRunFilterId(any_=chunk)), limit=PAGE
        ):
            names[task_run.id] = task_run.name.rsplit("-", 1)[0]
    return names


@dataclass(frozen=True)
class Outcome:
    """What the result route answers for a finished run: an HTTP status and a JSON body; and for the status route,
    the protocol's `error`/`error_type` of a run that did not succeed."""

    status_code: int
    body: dict[str, Any]
    error: str | None = None
    error_type: str | None = None


def outcome(client: SyncPrefectClient, run: FlowRun) -> Outcome:
    state = run.state
    assert state is not None and state.type in FINAL
    if state.type == StateType.CANCELLED:
        msg = f"request {run.id} was cancelled"
        return Outcome(400, {"detail": msg}, msg, "request_cancelled")
    body = result_artifact(client, run.id)
    if state.type == StateType.COMPLETED and body is not None:
        return Outcome(200, body)
    if isinstance(body, dict) and body.get("status") == 422:  # the user's mistake: the same 422 body as everywhere
        details = body.get("detail") if isinstance(body.get("detail"), list) else []
        msg = visible("; ".join(str(d.get("msg")) if isinstance(d, dict) else "" for d in details))
        return Outcome(422, body, msg or "the request was rejected", "request_rejected")
    # The state's message is for operators (it can hold a worker's paths and a traceback's last line): logged here,
    # and the client gets the run id to quote.
    log.warning("run %s ended %s: %s", run.id, state.name, visible(state.message or "no message"))
    msg = f"the job failed ({state.name}); quote request {run.id} to the operator"
    return Outcome(500, {"detail": msg}, msg, "job_failed")


def cancel(client: SyncPrefectClient, run: FlowRun) -> bool | None:
    """Cancel the run: True once Prefect accepted it, False if the run had already finished, None if Prefect
    refused or put it off. A waiting run is cancelled outright; a running one is set Cancelling, and the process that
    serves the deployment stops it and marks it Cancelled."""
    state = run.state.type if run.state else StateType.SCHEDULED
    if state in FINAL:
        return False
    if state in WAITING:
        answer = client.set_flow_run_state(run.id, Cancelled(message="Cancelled through the queue API"), force=True)
    else:
        answer = client.set_flow_run_state(run.id, Cancelling(message="Cancellation requested through the queue API"))
    if answer.status == SetStateStatus.ACCEPT:
        return True
    now = client.read_flow_run(run.id).state
    if now is not None and now.type in FINAL:  # it finished in the meantime
        return False
    log.warning("Prefect did not accept cancelling run %s: %s", run.id, answer.status.value)
    return None
