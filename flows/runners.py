"""Which Prefect task runner runs the mapped stages (scene split, fit): a deployment setting, not a request field.

    EXTEND_SUFFIX_TASK_RUNNER=threads          a thread pool of EXTEND_SUFFIX_MAX_PARALLEL (the default: ffmpeg
                                               children do the work)
    EXTEND_SUFFIX_TASK_RUNNER=threads:8        a thread pool of 8
    EXTEND_SUFFIX_TASK_RUNNER=dask             a temporary local Dask cluster of EXTEND_SUFFIX_MAX_PARALLEL
                                               single-threaded worker processes
    EXTEND_SUFFIX_TASK_RUNNER=dask:4           a temporary local Dask cluster of 4 single-threaded worker processes
    EXTEND_SUFFIX_TASK_RUNNER=tcp://host:8786  an existing Dask scheduler (a cluster, e.g. dask-kubernetes)

EXTEND_SUFFIX_MAX_PARALLEL defaults to the cores this process may use: each mapped task runs an ffmpeg decoder and
encoder that keep a core busy, so more at once only adds memory and open files (Prefect's own thread pool has no
bound and would start every clip's task together).

Only tasks the flow maps go to the runner (the flow enters it when a run starts, from that run's settings); the
stages it calls directly run in the flow's own process. With a remote cluster, the work root must be a filesystem
every worker mounts at the same path (or the deployment sets a stage mirror); a mapped task's small manifest comes
back through the cluster itself, since the stage tasks persist no Prefect results.
"""

from __future__ import annotations

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from ltxcore.settings import PREFIX

ENV = f"{PREFIX}TASK_RUNNER"


def task_runner(setting: str, max_parallel: int) -> TaskRunner:
    """The task runner a setting names (see the module docstring), running at most `max_parallel` mapped tasks at
    once unless the setting gives its own N; ValueError for a setting it does not know."""
    kind, _, arg = setting.strip().partition(":")
    if kind in ("tcp", "tls"):  # an existing cluster: its own workers bound it
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=setting.strip())
    workers = int(arg) if arg else max_parallel
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=workers)
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        # Single-threaded workers: a fit task's ffmpeg child and PyAV are the parallel part, not Python threads.
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1})
    raise ValueError(f"{ENV}={setting!r}: expected threads[:N], dask[:N] or a scheduler address tcp://host:port")
