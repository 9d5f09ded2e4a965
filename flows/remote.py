"""Submitting to a Prefect server over its API and following the run, for `extend-suffix submit` and scripts."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import LogSort
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound

from ltxcore.job.request import ExtendSuffixRequest
from tasks.result_record import RESULT_DATA_KEY, RESULT_KEY

# A worker sends its log lines in batches (every 2 s by default, the rest as its process exits), so a run's last
# lines can reach the API after its final state. The flow's own "Finished in state ..." is the last line it writes;
# a run that ended longer ago than this without one (its process was killed) has sent all it ever will.
LOG_SETTLE_S = 15.0


def submit_request(
    deployment: str, request: ExtendSuffixRequest, idempotency_key: str | None = None, tags: list[str] | None = None
) -> UUID:
    """Create a flow run of `deployment` with the request as its parameter (and `tags`, e.g. the queue API's owner
    tag); returns at once."""
    run = run_deployment(
        deployment,
        parameters={"request": request.model_dump(mode="json")},
        timeout=0,
        idempotency_key=idempotency_key,
        tags=tags,
    )
    return run.id


def follow_run(run_id: UUID, emit: Callable[[str], None], poll_s: float = 2.0) -> tuple[str, Any]:
    """Print the run's logs as they arrive until it reaches a final state, each named by its stage (the task run's
    name, e.g. `fit-clips_clip_00`, or `flow`); return (state type, result or body)."""
    seen = 0
    stages: dict[UUID, str] = {}
    with get_client(sync_client=True) as client:

        def new_logs(last: bool) -> None:
            nonlocal seen
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])),
                sort=LogSort.TIMESTAMP_ASC,
                offset=seen,
            )
            for log in logs:
                name = stage_name(client, log.task_run_id, stages)
                if name is None and not last:
                    break  # Prefect records task runs from events: this line's is not in yet; the next poll prints it
                emit(f"{log.timestamp:%H:%M:%S} {name or f'task {str(log.task_run_id)[:8]}'}: {log.message}")
                seen += 1

        while True:
            run = client.read_flow_run(run_id)
            new_logs(last=False)
            if logs_settled(client, run):
                break
            time.sleep(poll_s if run.state is None or not run.state.is_final() else 0.5)
        new_logs(last=True)  # the lines that came with the final one, and any still waiting for their task run
        assert run.state is not None
        return run.state.type.value, result_artifact(client, run_id)


def logs_settled(client: SyncPrefectClient, run: FlowRun) -> bool:
    """Whether the run has finished and every log line it will write has reached the API: the flow engine's final
    "Finished in state" line is there (it writes one for a Completed or Failed run), the run ended some other way
    (cancelled, crashed, never started), or it ended more than LOG_SETTLE_S ago."""
    state = run.state
    if state is None or not state.is_final():
        return False
    if state.type not in (StateType.COMPLETED, StateType.FAILED) or run.start_time is None:
        return True
    if (datetime.now(UTC) - state.timestamp).total_seconds() > LOG_SETTLE_S:
        return True
    # The flow's line is the newest it writes (Prefect's text search cannot run on a SQLite-backed server).
    newest = client.read_logs(
        log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])), sort=LogSort.TIMESTAMP_DESC, limit=20
    )
    return any(log.task_run_id is None and log.message.startswith("Finished in state") for log in newest)


def stage_name(client: SyncPrefectClient, task_run_id: UUID | None, known: dict[UUID, str]) -> str | None:
    """The stage a log line came from: its task run's name (looked up once per task run), `flow`, or None while
    Prefect has not recorded that task run yet."""
    if task_run_id is None:
        return "flow"
    if task_run_id not in known:
        try:
            known[task_run_id] = client.read_task_run(task_run_id).name
        except ObjectNotFound:
            return None
    return known[task_run_id]


def result_artifact(client: SyncPrefectClient, run_id: UUID) -> dict[str, Any] | None:
    """The run's result record (the result, or the 422 body), read over the API: the persisted result may live on a
    worker's disk that this machine cannot see. The JSON data artifact; for a run recorded before there was one, the
    JSON block that ends its Markdown (json.dumps escapes line breaks, so no line of the block can be a fence)."""
    for key in (RESULT_DATA_KEY, RESULT_KEY):
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]), flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])
            ),
        )
        if found:
            return _record_body(key, str(found[-1].data))
    return None


def _record_body(key: str, text: str) -> dict[str, Any] | None:
    if key == RESULT_DATA_KEY:
        body = json.loads(text)
    else:
        lines = text.splitlines()
        opens = [i for i, line in enumerate(lines) if line == "```json"]
        closes = [i for i, line in enumerate(lines) if line == "```"]
        if not opens or not closes or closes[-1] < opens[-1]:
            return None
        body = json.loads("\n".join(lines[opens[-1] + 1 : closes[-1]]))
    return body if isinstance(body, dict) else None
