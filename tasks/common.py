"""Prefect-only helpers every stage task shares: cache keys from the stage registry, the lock policy, the
transient-fault retry rule, progress forwarding and the stage mirror around each task."""

from __future__ import annotations

import functools
import hashlib
import inspect
import socket
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from prefect import Task, get_run_logger
from prefect.artifacts import create_markdown_artifact, update_progress_artifact
from prefect.cache_policies import CachePolicy
from prefect.client.schemas.objects import State, TaskRun
from prefect.context import FlowRunContext, TaskRunContext
from prefect.settings import PREFECT_HOME
from tqdm import tqdm

from ltxcore.errors import RequestRejected
from ltxcore.job.receipt import Meter, Receipt, StageUsage, read_usages, receipt, usage_dir, write_usage
from ltxcore.job.settings import JobSettings
from ltxcore.store.mirror import StageMirror
from ltxcore.store.stage import Stage
from tasks.artifacts import progress_artifact
from tasks.locks import KernelLockManager

CACHE_FOR = timedelta(days=30)
P = ParamSpec("P")
R = TypeVar("R")


def stage_key(stage: Stage, *inputs: str, **renamed: str) -> Callable[[TaskRunContext, dict[str, Any]], str]:
    """A Prefect cache key fn from the stage's declaration: `<name>-<key>@<work root id>`, the key over the task
    parameters that are its inputs (`archive.sha256` picks one field, hashed under its own name; `settings="fit"`
    hashes the `fit` parameter as the key's `settings` part). Where those are the parts the library keys the stage's
    directory by, `<key>` is the directory's own name; a task whose result also depends on a check (probe's audio
    rule, fetch's allow-lists) adds that input. No run id and no unrelated setting, so a new run of the same request,
    or a retry of a failed one, finds every finished stage `Cached`."""

    def key(_ctx: TaskRunContext, parameters: dict[str, Any]) -> str:
        parts = {}
        for name in inputs:
            head, _, attr = name.partition(".")
            parts[attr or head] = getattr(parameters[head], attr) if attr else parameters[head]
        parts |= {part: parameters[param] for part, param in renamed.items()}
        return f"{stage.name}-{stage.key(**parts)}@{work_root_id(parameters['settings'].work_root)}"

    return key


def work_root_id(work_root: str | Path) -> str:
    """Which stage store a cached result's files live in: a result names files under its own work root, so a run on
    another work root (another deployment's store) computes its own instead of pointing at files it cannot read."""
    return hashlib.sha256(str(Path(work_root).resolve()).encode()).hexdigest()[:8]


def locked_stage_policy(stage: Stage, *inputs: str) -> CachePolicy:
    """The stage key with SERIALIZABLE isolation: of two identical submissions at once, one computes and the other
    waits for the lock and then reads the first one's result as `Cached`. The lock files live in Prefect's own home
    (PREFECT_HOME/locks), which every run on one host shares; the kernel drops a killed process's lock (see
    tasks.locks). Across machines use prefect-redis's RedisLockManager instead."""
    locks = Path(PREFECT_HOME.value()) / "locks"
    return CachePolicy.from_cache_key_fn(stage_key(stage, *inputs)).configure(
        isolation_level="SERIALIZABLE", lock_manager=KernelLockManager(locks)
    )


# Faults worth another try: the network, storage, a peer that went away. A user's mistake never is.
_TRANSIENT: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, socket.timeout, OSError)


def retry_transient(_task: Task, _run: TaskRun, state: State) -> bool:
    """Retry only transient I/O faults; a RequestRejected or a programming error fails at once."""
    exc = state.result(raise_on_failure=False)
    final = (RequestRejected, FileNotFoundError, PermissionError, IsADirectoryError)
    return isinstance(exc, _TRANSIENT) and not isinstance(exc, final)


IO_RETRIES: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": [2, 10, 30],
    "retry_jitter_factor": 0.3,
    "retry_condition_fn": retry_transient,
}


def job_settings(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> JobSettings:
    """The deployment settings a stage task was handed: every stage task takes them as its `settings` parameter, so
    a task run in another process (a Dask worker) has the plan's settings, not that process's environment."""
    settings = inspect.signature(fn).bind(*args, **kwargs).arguments["settings"]
    assert isinstance(settings, JobSettings), f"{fn.__name__}: `settings` must be the job's JobSettings"
    return settings


def mirrored(fn: Callable[P, R]) -> Callable[P, R]:
    """Fetch the files a stage's arguments name before it runs, and mirror the files its result names after (the
    settings' stage_mirror)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        settings = job_settings(fn, args, kwargs)
        mirror = StageMirror.maybe(settings.work_root, settings.stage_mirror)
        if mirror is not None:
            mirror.pull([args, kwargs])
        result = fn(*args, **kwargs)
        if mirror is not None:
            mirror.push(result)
        return result

    return wrapper


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
        self.description = description
        self.eta = eta
        self.artifact_id = progress_artifact(key, description)  # updated in place, one per stage, retries too
        self.log_every_s = log_every_s
        self.update_every_s = update_every_s  # one API call per step would slow a fast loop down
        self._last_log = self._last_update = 0.0
        # The CLI asks for a terminal progress bar too (`bar`); a served deployment has no terminal to draw it on.
        self.bar = None
        if bar:
            fmt = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]" if eta else None
            self.bar = tqdm(desc=description, unit="step", file=sys.stderr, bar_format=fmt)

    def __call__(self, done: int, total: int, message: str) -> None:
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


# --- the receipt: each task run's measurement, gathered per flow run ---------------------------------------------


def metered(fn: Callable[P, R]) -> Callable[P, R]:
    """Measure the task body (ltxcore.job.receipt.Meter) and file it under the flow run's receipt directory."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        ctx = TaskRunContext.get()
        if ctx is None:  # called as a plain function (a test): nothing to file it under
            return fn(*args, **kwargs)
        settings = job_settings(fn, args, kwargs)
        with Meter([args, kwargs], Path(settings.work_root).resolve()) as meter:
            result = fn(*args, **kwargs)
        usage = meter.usage(result, stage=ctx.task.name, task_run=str(ctx.task_run.id))
        write_usage(usage_dir(settings.work_root, str(ctx.task_run.flow_run_id)), usage)
        return result

    return wrapper


def record_cached(task: Task, task_run: TaskRun, state: State) -> None:
    """on_completion hook: a Cached task run never runs its body, so it is filed here, with nothing used (hooks run
    inside the task run's context, which holds its parameters)."""
    if state.name == "Cached" and task_run.flow_run_id is not None:
        settings = TaskRunContext.get().parameters["settings"]
        usage = StageUsage(stage=task.name, task_run=str(task_run.id), cached=True)
        write_usage(usage_dir(settings.work_root, str(task_run.flow_run_id)), usage)


record_cached.log_on_run = False  # type: ignore[attr-defined]  # Prefect: no "Running hook" lines on every task
RECEIPT: dict[str, Any] = {"on_completion": [record_cached]}


def collect_receipt(settings: JobSettings) -> Receipt:
    """The receipt of the running flow run so far, also shown as the `receipt` artifact."""
    flow_run = FlowRunContext.get().flow_run
    found = receipt(read_usages(usage_dir(settings.work_root, str(flow_run.id))))
    create_markdown_artifact(found.markdown(), key="receipt", description=f"{found.gpu_hours:.4f} GPU-hours")
    return found
