"""Which Prefect task runner runs the mapped stages (scene split, fit): a deployment setting, not a request field.

    EXTEND_SUFFIX_TASK_RUNNER=threads          Prefect's thread pool (the default: ffmpeg children do the work)
    EXTEND_SUFFIX_TASK_RUNNER=threads:8        a thread pool of 8
    EXTEND_SUFFIX_TASK_RUNNER=dask             a temporary local Dask cluster (one process per core)
    EXTEND_SUFFIX_TASK_RUNNER=dask:4           a temporary local Dask cluster of 4 single-threaded worker processes
    EXTEND_SUFFIX_TASK_RUNNER=tcp://host:8786  an existing Dask scheduler (a cluster, e.g. dask-kubernetes)

Only tasks the flow submits or maps go to the runner; the stages it calls directly run in the flow's own process.
With a remote cluster, the work root must be a filesystem every worker mounts at the same path, and Prefect's
results must live in shared storage (PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK).
"""

from __future__ import annotations

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from ltxcore.settings import PREFIX

ENV = f"{PREFIX}TASK_RUNNER"


def task_runner(setting: str) -> TaskRunner:
    """The task runner a setting names (see the module docstring); ValueError for one it does not."""
    kind, _, arg = setting.strip().partition(":")
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=int(arg)) if arg else ThreadPoolTaskRunner()
    if kind in ("tcp", "tls", "dask"):
        from prefect_dask import DaskTaskRunner

        if kind != "dask":
            return DaskTaskRunner(address=setting.strip())
        if not arg:
            return DaskTaskRunner()
        # Single-threaded workers: a fit task's ffmpeg child and PyAV are the parallel part, not Python threads.
        return DaskTaskRunner(cluster_kwargs={"n_workers": int(arg), "threads_per_worker": 1})
    raise ValueError(f"{ENV}={setting!r}: expected threads[:N], dask[:N] or a scheduler address tcp://host:port")
