"""The mapped preprocessing stages on a Dask task runner named by the deployment setting: a local two-worker
cluster runs every fit task, with the same results as Prefect's thread pool."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

from flows.runners import ENV, task_runner
from ltxcore.intake.fit import FitSettings
from ltxcore.job.settings import JobSettings
from ltxcore.media.synth import make_demo_archive

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_the_setting_names_the_runner() -> None:
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    # the bound applies where the setting gives no N of its own
    assert type(task_runner("threads", 4)) is ThreadPoolTaskRunner and task_runner("threads", 4)._max_workers == 4
    assert task_runner("threads:3", 4)._max_workers == 3
    assert task_runner("dask", 4).cluster_kwargs == {"n_workers": 4, "threads_per_worker": 1}
    assert task_runner("dask:2", 4).cluster_kwargs == {"n_workers": 2, "threads_per_worker": 1}
    assert isinstance(task_runner("tcp://10.0.0.5:8786", 4), DaskTaskRunner)
    assert task_runner("tcp://10.0.0.5:8786", 4).address == "tcp://10.0.0.5:8786"
    with pytest.raises(ValueError, match="expected threads"):
        task_runner("ray", 4)


def test_mapped_tasks_run_at_most_as_many_at_once_as_the_machine_has_cores() -> None:
    import threading
    import time

    from prefect import flow, task

    from tasks import dataset

    assert JobSettings().max_parallel == len(os.sched_getaffinity(0))
    running, most = [0], [0]
    lock = threading.Lock()

    @task
    def work(i: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)  # long enough for a pool without a bound to start every task together
        with lock:
            running[0] -= 1
        return i

    def mapped() -> list[int]:  # as the flow maps split and fit: over the runner its settings name
        with task_runner("threads", JobSettings(max_parallel=2).max_parallel) as runner:
            assert isinstance(dataset.TaskStages(runner).runner, type(runner))
            return runner.map(work, {"i": list(range(12))}).result()

    assert flow(name="bounded-map")(mapped)() == list(range(12)) and most[0] == 2


def test_the_runner_is_chosen_when_a_run_starts_not_when_the_flow_is_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect_dask import DaskTaskRunner

    import flows.extend_suffix as module

    monkeypatch.setenv(ENV, "dask:2")
    try:
        # a served flow imported once runs many jobs: its decorator reads no setting...
        assert not isinstance(importlib.reload(module).extend_suffix.task_runner, DaskTaskRunner)
        # ...each run reads the settings at its start (JobSettings() in the flow body), and they name the runner
        settings = JobSettings()
        assert isinstance(task_runner(settings.task_runner, settings.max_parallel), DaskTaskRunner)
    finally:
        monkeypatch.delenv(ENV)
        importlib.reload(module)


def test_mapped_fit_runs_on_a_two_worker_dask_cluster(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster, get_task_stream
    from prefect import flow, unmapped

    from tasks import dataset

    archive, _ = make_demo_archive(tmp_path / "demo", clips=3, seconds=1.5, size=(96, 96), audio=False)
    settings = JobSettings(work_root=str(tmp_path / "work"), output_root=str(tmp_path / "out"), allow_local_inputs=True)
    fit = FitSettings(num_frames=25, fps=24, width=64, height=64)

    def intake(work: str):  # the flow's intake stages, with `fit` mapped as in flows/extend_suffix.py
        job = settings.model_copy(update={"work_root": work})
        ref = dataset.fetch_archive(str(archive), job)
        clips = dataset.probe(dataset.extract(ref, job), False, job).clips
        return dataset.fit.map(clips, unmapped(fit), unmapped(job)).result()

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        runner = task_runner(cluster.scheduler_address, 2)
        on_dask = flow(name="intake-on-dask", task_runner=runner)(intake)
        with get_task_stream(client) as stream:
            dask_results = on_dask(str(tmp_path / "work-dask"))
        fit_runs = [t for t in stream.data if t["key"].startswith("fit")]
        addresses = set(client.scheduler_info()["workers"])
    threaded = flow(name="intake-on-threads", task_runner=task_runner("threads", 2))(intake)(str(tmp_path / "work-t"))

    assert len(fit_runs) == 3  # every mapped fit task ran on the cluster...
    assert len(addresses) == 2 and {t["worker"] for t in fit_runs} <= addresses
    assert all(os.path.isfile(c.video_path) for r in dask_results for c in r.clips)
    # ...and fitted the same windows as the thread pool did
    assert [[(c.id, c.num_frames, c.width) for c in r.clips] for r in dask_results] == [
        [(c.id, c.num_frames, c.width) for c in r.clips] for r in threaded
    ]
