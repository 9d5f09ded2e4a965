"""Two identical submissions at once compute every stage once; a lock left behind by a killed process blocks nobody."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ltxcore.media.synth import make_demo_archive
from tasks.locks import KernelLockManager

EXE = Path(sys.executable).with_name("extend-suffix")


ROOT = Path(__file__).parents[2]


def test_a_lock_held_by_a_dead_process_is_free_again(tmp_path: Path) -> None:
    code = (
        "import sys, os, signal; from pathlib import Path; from tasks.locks import KernelLockManager as M;"
        "assert M(Path(sys.argv[1])).acquire_lock('k', 'holder-a'); os.kill(os.getpid(), signal.SIGKILL)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], timeout=120, cwd=ROOT)
    assert out.returncode == -9 and (tmp_path / "k.lock").is_file()
    manager = KernelLockManager(tmp_path)
    assert manager.is_locked("k") is False
    assert manager.acquire_lock("k", "holder-b", acquire_timeout=0) is True
    assert manager.is_lock_holder("k", "holder-b") and manager.is_locked("k") is True


def test_a_held_lock_excludes_other_holders_in_this_process_and_others(tmp_path: Path) -> None:
    manager = KernelLockManager(tmp_path)
    assert manager.acquire_lock("k", "holder-a")
    assert manager.acquire_lock("k", "holder-a") is True  # the holder itself may ask again
    other_here = KernelLockManager(tmp_path)  # another manager (its own open file) in the same process
    t0 = time.monotonic()
    assert other_here.acquire_lock("k", "holder-b", acquire_timeout=0.3) is False
    assert time.monotonic() - t0 >= 0.3
    code = (
        "import sys; from pathlib import Path; from tasks.locks import KernelLockManager as M;"
        "m = M(Path(sys.argv[1])); print(m.is_locked('k'), m.acquire_lock('k', 'holder-c', acquire_timeout=0.3))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.split() == ["True", "False"]
    with pytest.raises(ValueError, match="holder-b"):
        manager.release_lock("k", "holder-b")
    manager.release_lock("k", "holder-a")
    assert manager.is_locked("k") is False
    assert other_here.acquire_lock("k", "holder-b", acquire_timeout=0) is True
    other_here.release_lock("k", "holder-b")


def test_the_async_lock_calls_wait_and_time_out_like_the_sync_ones(tmp_path: Path) -> None:
    import anyio

    holder, other = KernelLockManager(tmp_path), KernelLockManager(tmp_path)

    async def scenario() -> list[bool]:
        got = [
            await holder.aacquire_lock("k", "a"),
            await other.aacquire_lock("k", "b", acquire_timeout=0.2),
            await other.await_for_lock("k", timeout=0.2),
        ]
        holder.release_lock("k", "a")
        return [*got, await other.await_for_lock("k", timeout=0.2), await other.aacquire_lock("k", "b")]

    assert anyio.run(scenario) == [True, False, False, True, True]
    other.release_lock("k", "b")


def test_the_lock_manager_survives_pickling_without_its_open_locks(tmp_path: Path) -> None:
    manager = KernelLockManager(tmp_path)
    assert manager.acquire_lock("k", "holder-a")
    copy = pickle.loads(pickle.dumps(manager))
    assert copy.lock_files_directory == manager.lock_files_directory
    assert copy.is_lock_holder("k", "holder-a") is False and copy.is_locked("k") is True
    manager.release_lock("k", "holder-a")


_STAGE_CODE = """
import os, sys, time
from pathlib import Path
from ltxcore.manifests import ExtractResult
from ltxcore.store.stage import Stage

work = Path(sys.argv[1])

def run(out: Path) -> ExtractResult:
    with open(work / "runs.log", "a") as log:
        log.write(f"{os.getpid()}\\n")
    (out / "data.bin").write_bytes(b"x" * 1000)  # not atomic on purpose: a second writer would see it half-written
    time.sleep(1.0)
    return ExtractResult(clips=[])

print(Stage("demo", 1).run(work, {"a": 1}, ExtractResult, run).model_dump_json())
"""


def test_a_stage_reached_by_two_processes_at_once_runs_once(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", _STAGE_CODE, str(tmp_path)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT) for _ in range(3)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    assert len(set(outs)) == 1
    assert len((tmp_path / "runs.log").read_text().splitlines()) == 1
    (stage_dir,) = (tmp_path / "demo").iterdir()
    assert (stage_dir / "data.bin").stat().st_size == 1000 and (stage_dir / "manifest.json").is_file()


def test_two_identical_submissions_at_once_train_once(prefect_api: None, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterStartTime,
        TaskRunFilter,
        TaskRunFilterName,
    )
    from prefect.settings import PREFECT_API_URL

    archive, _ = make_demo_archive(tmp_path / "data", clips=3, seconds=1.5, size=(96, 96), audio=False)
    request = tmp_path / "request.json"
    request.write_text(
        json.dumps(
            {
                "training_data_url": str(archive),
                "number_of_steps": 100,
                "number_of_frames": 25,
                "rank": 16,
                "trigger_phrase": "twice",
            }
        )
    )
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}  # one PREFECT_HOME: one lock directory
    cmd = [str(EXE), "run", str(request), "--work-dir", str(tmp_path / "work"), "--bucket", "64x64"]
    t0 = datetime.now(UTC)
    logs = [tmp_path / f"stderr-{i}.log" for i in range(2)]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=log.open("w"), text=True) for log in logs]
    outputs = [p.communicate(timeout=900)[0] for p in procs]
    tails = "\n".join(f"--- {log.name}\n" + "\n".join(log.read_text().splitlines()[-40:]) for log in logs)
    assert [p.returncode for p in procs] == [0, 0], tails
    results = [json.loads(o.strip().splitlines()[-1]) for o in outputs]
    assert results[0]["lora_file"] == results[1]["lora_file"], tails
    deadline = time.monotonic() + 30  # task runs reach the server as events, a moment after the processes exit
    while True:
        with get_client(sync_client=True) as client:
            flows = client.read_flow_runs(flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=t0)))
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[f.id for f in flows])),
                task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_="train-lora")),
            )
        names = sorted(r.state.name for r in runs if r.state and r.state.is_final())
        if len(names) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(flows) == 2
    assert names == ["Cached", "Completed"]


pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")
