"""Orchestration overhead per stage (run by hand): the intake stages through Prefect tasks vs the same functions called
directly, on the same clips, in one process.

    .venv/bin/python bench/orchestration.py [--clips 3]

"Direct" calls each task's undecorated function (`task.fn`: the `ltxcore` call plus its content-addressed store);
"prefect" calls the tasks inside a flow on Prefect's embedded server, mapping `fit` on a one-thread pool so both sides
run the clips one after another. Each side writes into its own fresh work root, so nothing is served from a cache.
The server's start-up is paid once before timing (a warm-up flow) and reported apart.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="bench-prefect-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def measure(clips: int = 3) -> dict:
    from prefect import flow, unmapped
    from prefect.task_runners import ThreadPoolTaskRunner

    from ltxcore.intake.fit import FitSettings
    from ltxcore.job.settings import JobSettings
    from ltxcore.media.synth import make_demo_archive
    from tasks import dataset

    tmp = Path(tempfile.mkdtemp(prefix="bench-orch-"))
    archive, _ = make_demo_archive(tmp / "demo", clips=clips, seconds=1.5, size=(96, 96), audio=False)
    settings = JobSettings(work_root=str(tmp / "w"), output_root=str(tmp / "o"), allow_local_inputs=True)
    fit = FitSettings(num_frames=25, fps=24, width=64, height=64)

    def stages(work: str, call) -> dict[str, float]:  # the intake, timed stage by stage
        times, t = {}, time.perf_counter()
        job = settings.model_copy(update={"work_root": work})
        ref = call("fetch", dataset.fetch_archive, str(archive), job)
        times["fetch"], t = time.perf_counter() - t, time.perf_counter()
        extracted = call("extract", dataset.extract, ref, job)
        times["extract"], t = time.perf_counter() - t, time.perf_counter()
        probed = call("probe", dataset.probe, extracted, False, job)
        times["probe"], t = time.perf_counter() - t, time.perf_counter()
        call("fit", dataset.fit, probed.clips, fit, job)
        times["fit"] = time.perf_counter() - t
        return times

    def direct(stage, task, *args):
        return [task.fn(c, *args[1:]) for c in args[0]] if stage == "fit" else task.fn(*args)

    def through_prefect(stage, task, *args):
        if stage == "fit":
            return task.map(args[0], *(unmapped(a) for a in args[1:])).result()
        return task(*args)

    start = time.perf_counter()
    flow(name="bench-warm-up")(lambda: None)()
    startup = time.perf_counter() - start
    direct_times = stages(str(tmp / "direct"), direct)
    timed_flow = flow(name="bench-intake", task_runner=ThreadPoolTaskRunner(max_workers=1))(
        lambda: stages(str(tmp / "prefect"), through_prefect)
    )
    start = time.perf_counter()
    prefect_times = timed_flow()
    flow_total = time.perf_counter() - start
    runs = {"fetch": 1, "extract": 1, "probe": 1, "fit": clips}
    rows = {
        s: {
            "direct_s": round(direct_times[s], 3),
            "prefect_s": round(prefect_times[s], 3),
            "overhead_per_task_s": round((prefect_times[s] - direct_times[s]) / runs[s], 3),
            "ratio": round(prefect_times[s] / direct_times[s], 2),
            "task_runs": runs[s],
        }
        for s in runs
    }
    return {
        "clips": clips,
        "server_startup_s": round(startup, 2),
        "flow_overhead_s": round(flow_total - sum(prefect_times.values()), 3),
        "stages": rows,
    }


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=3)
    print(json.dumps(measure(ap.parse_args().clips)))


if __name__ == "__main__":
    main()
