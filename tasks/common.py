"""Prefect-only helpers every stage task shares: the stage task itself (the library's store decides what is reused;
Prefect keeps no cache of its own), the retry rule for storage faults, progress forwarding, and the receipt."""

from __future__ import annotations

import functools
import inspect
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

from prefect import Task, get_run_logger
from prefect.artifacts import create_markdown_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.context import FlowRunContext, TaskRunContext
from prefect.states import Completed
from tqdm import tqdm

from ltxcore.job.receipt import Meter, Receipt, StageUsage, read_usages, receipt, usage_dir, write_usage
from ltxcore.job.settings import JobSettings
from ltxcore.store.mirror import StageMirror
from ltxcore.store.retries import STAGE_IO, is_transient
from ltxcore.store.stage import StoreSession, store_session
from tasks.artifacts import progress_artifact

P = ParamSpec("P")
R = TypeVar("R")


def retry_transient(_task: Task, _run: TaskRun, state: State) -> bool:
    """Retry only transient I/O faults; a RequestRejected or a programming error fails at once."""
    return is_transient(state.result(raise_on_failure=False))


# The STAGE_IO rule (ltxcore.store.retries) in Prefect's terms, for the tasks whose work is storage or network I/O.
IO_RETRIES: dict[str, Any] = {
    "retries": STAGE_IO.attempts - 1,
    "retry_delay_seconds": list(STAGE_IO.delays_s),
    "retry_jitter_factor": STAGE_IO.jitter,
    "retry_condition_fn": retry_transient,
}


def job_settings(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> JobSettings:
    """The deployment settings a stage task was handed: every stage task takes them as its `settings` parameter, so
    a task run in another process (a Dask worker) has the plan's settings, not that process's environment."""
    settings = inspect.signature(fn).bind(*args, **kwargs).arguments["settings"]
    assert isinstance(settings, JobSettings), f"{fn.__name__}: `settings` must be the job's JobSettings"
    return settings


def fetch_inputs(settings: JobSettings, value: Any) -> None:
    """Fetch from the stage mirror every file under the work root that `value` names and this worker lacks."""
    mirror = StageMirror.maybe(settings.work_root, settings.stage_mirror)
    if mirror is not None:
        mirror.pull(value)


class StageTask(Task[P, R]):
    """A Prefect task around one library stage. The library's store owns reuse (content keys, manifests, locks,
    the mirror); a run whose stages were all reused ends in a `Cached` state, the name Prefect gives a reused
    result, so a resubmission reads in the UI as it always has. Called directly it returns the value, as a plain
    task does (Prefect would hand back the `Cached` state object itself)."""

    def __call__(self, *args: Any, return_state: bool = False, wait_for: Any = None, **kwargs: Any) -> Any:
        state = super().__call__(*args, return_state=True, wait_for=wait_for, **kwargs)
        return state if return_state else state.result()


def stage_task(*, metered: bool = True, **options: Any) -> Callable[[Callable[P, R]], StageTask[P, R]]:
    """`@stage_task(name=...)`: a StageTask with Prefect's result cache off. With `metered`, each run is measured
    (ltxcore.job.receipt.Meter) and filed under the flow run's receipt, a reused run as `cached` with nothing used."""

    def decorate(fn: Callable[P, R]) -> StageTask[P, R]:
        @functools.wraps(fn)
        def body(*args: P.args, **kwargs: P.kwargs) -> Any:
            settings = job_settings(fn, args, kwargs)
            mirror = StageMirror.maybe(settings.work_root, settings.stage_mirror)
            with (
                store_session(mirror, [args, kwargs]) as session,
                Meter([args, kwargs], Path(settings.work_root).resolve()) as meter,
            ):
                result = fn(*args, **kwargs)
            ctx = TaskRunContext.get()
            if ctx is None:  # called as a plain function (a test): nothing to file, no state to name
                return result
            if metered:
                _file_usage(ctx, settings, meter, result, session)
            return Completed(name="Cached", data=result) if session.all_reused else result

        return StageTask(fn=body, cache_policy=NO_CACHE, persist_result=False, **options)

    return decorate


def _file_usage(ctx: TaskRunContext, settings: JobSettings, meter: Meter, result: Any, session: StoreSession) -> None:
    stage, run = ctx.task.name, str(ctx.task_run.id)
    if session.all_reused:
        usage = StageUsage(stage=stage, task_run=run, cached=True)
    else:
        usage = meter.usage(result, stage=stage, task_run=run)
    write_usage(usage_dir(settings.work_root, str(ctx.task_run.flow_run_id)), usage)


class ProgressForwarder:
    """Turns ltxcore progress callbacks into a Prefect progress artifact and throttled log lines.

    With `eta`, the caller's message carries the time left (the trainer's, which counts previews, validations and
    checkpoints): the artifact's description shows it, and the terminal bar shows it instead of tqdm's own estimate,
    which knows only the rate of steps."""

    def __init__(
        self,
        key: str,
        description: str,
        bar: bool,
        log_every_s: float = 10.0,
        update_every_s: float = 2.0,
        eta: bool = False,
    ) -> None:
        self.logger = get_run_logger()
        self.key = key
        self.description = description
        self.eta = eta
        self.log_every_s = log_every_s
        self.update_every_s = update_every_s  # one API call per step would slow a fast loop down
        self._last_log = self._last_update = 0.0
        # The CLI asks for a terminal progress bar too (`bar`); a served deployment has no terminal to draw it on.
        self.want_bar = bar
        # Both made on the first report: a stage the store reuses reports nothing and shows neither.
        self.artifact_id: UUID | None = None
        self.bar: tqdm | None = None

    def _start(self) -> None:
        self.artifact_id = progress_artifact(self.key, self.description)  # updated in place, one per stage, retries too
        if self.want_bar:
            fmt = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]" if self.eta else None
            self.bar = tqdm(desc=self.description, unit="step", file=sys.stderr, bar_format=fmt)

    def __call__(self, done: int, total: int, message: str) -> None:
        if self.artifact_id is None:
            self._start()
        now = time.monotonic()
        last = done >= total
        if self.bar is not None:
            self.bar.total = total
            self.bar.n = done
            self.bar.set_postfix_str(message, refresh=True)
            if last:
                self.bar.close()
        if now - self._last_update >= self.update_every_s or last:
            self._last_update = now
            described = f"{self.description}: {message}" if self.eta else None
            update_progress_artifact(self.artifact_id, progress=100.0 * done / max(total, 1), description=described)
        if now - self._last_log >= self.log_every_s or last:
            self._last_log = now
            self.logger.info("%s/%s %s", done, total, message)


def collect_receipt(settings: JobSettings) -> Receipt:
    """The receipt of the running flow run so far, also shown as the `receipt` artifact."""
    flow_run = FlowRunContext.get().flow_run
    found = receipt(read_usages(usage_dir(settings.work_root, str(flow_run.id))))
    create_markdown_artifact(found.markdown(), key="receipt", description=f"{found.gpu_hours:.4f} GPU-hours")
    return found
