"""A finished run counts as done for `submit` and the queue API only once its last log lines have reached the API:
the flow engine's own "Finished in state" line is there, or the run ended in a way that writes none."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from prefect import flow, task
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import LogCreate
from prefect.states import Cancelled, Completed, Failed, Running

from flows.remote import follow_run, logs_settled
from queue_api.runs import queue_status

pytestmark = pytest.mark.usefixtures("prefect_api")


@flow(name="log-settling-probe")
def probe() -> None:
    """Never run: its flow runs are made and moved through states by hand over the API."""


@task(name="fetch-archive")
def stage() -> None:
    """Never run: stands for a stage whose task run writes its own "Finished" line."""


@pytest.fixture()
def client() -> Iterator[SyncPrefectClient]:
    with get_client(sync_client=True) as api:
        yield api


def started_run(client: SyncPrefectClient) -> UUID:
    run = client.create_flow_run(probe)
    client.set_flow_run_state(run.id, Running(), force=True)
    return run.id


def log(client: SyncPrefectClient, run_id: UUID, message: str, task_run_id: UUID | None = None) -> None:
    client.create_logs(
        [
            LogCreate(
                name="prefect.flow_runs",
                level=20,
                message=message,
                timestamp=datetime.now(UTC),
                flow_run_id=run_id,
                task_run_id=task_run_id,
            )
        ]
    )


def test_a_just_completed_run_waits_for_the_flows_final_log_line(client: SyncPrefectClient) -> None:
    run_id = started_run(client)
    log(client, run_id, "Beginning flow run 'x' for flow 'log-settling-probe'")
    assert queue_status(client, client.read_flow_run(run_id)) == "IN_PROGRESS"  # still running
    client.set_flow_run_state(run_id, Completed(), force=True)
    run = client.read_flow_run(run_id)
    assert run.state is not None and run.state.is_final()
    assert not logs_settled(client, run) and queue_status(client, run) == "IN_PROGRESS"
    # A stage's "Finished" line is not the flow's: the flow's own line comes after every stage's.
    task_run = client.create_task_run(stage, flow_run_id=run_id, dynamic_key="0", name="fetch-archive-0")
    log(client, run_id, "Finished in state Completed()", task_run_id=task_run.id)
    assert not logs_settled(client, run) and queue_status(client, run) == "IN_PROGRESS"
    log(client, run_id, "Finished in state Completed()")
    assert logs_settled(client, run) and queue_status(client, run) == "COMPLETED"


def test_a_failed_run_also_waits_for_its_final_line(client: SyncPrefectClient) -> None:
    run_id = started_run(client)
    client.set_flow_run_state(run_id, Failed(message="a stage failed"), force=True)
    assert queue_status(client, client.read_flow_run(run_id)) == "IN_PROGRESS"
    log(client, run_id, "Finished in state Failed('a stage failed')")
    assert queue_status(client, client.read_flow_run(run_id)) == "COMPLETED"


def test_runs_that_write_no_final_line_are_done_at_once(client: SyncPrefectClient) -> None:
    cancelled = started_run(client)  # a cancelled run's process is killed: no final line ever comes
    client.set_flow_run_state(cancelled, Cancelled(), force=True)
    assert logs_settled(client, client.read_flow_run(cancelled))
    never_started = client.create_flow_run(probe)  # cancelled while queued
    client.set_flow_run_state(never_started.id, Cancelled(), force=True)
    assert queue_status(client, client.read_flow_run(never_started.id)) == "COMPLETED"


def test_submit_prints_a_line_whose_task_run_is_not_recorded_yet_by_its_id(client: SyncPrefectClient) -> None:
    run_id = started_run(client)
    unknown = uuid4()  # Prefect writes task runs from events: a stage's line can reach the API before its run
    log(client, run_id, "stage output", task_run_id=unknown)
    client.set_flow_run_state(run_id, Completed(), force=True)
    log(client, run_id, "Finished in state Completed()")
    lines: list[str] = []
    state, _ = follow_run(run_id, lines.append, poll_s=0.1)
    assert state == "COMPLETED"
    assert [line.split(" ", 1)[1] for line in lines] == [
        f"task {str(unknown)[:8]}: stage output",
        "flow: Finished in state Completed()",
    ]
