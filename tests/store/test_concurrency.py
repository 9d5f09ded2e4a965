"""Two identical submissions at once compute every stage once; a stage lock left by a killed process blocks nobody."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ltxcore.media.synth import make_demo_archive
from ltxcore.store.stage import stage_lock

EXE = Path(sys.executable).with_name("extend-suffix")


ROOT = Path(__file__).parents[2]


def test_a_stage_lock_held_by_a_dead_process_is_free_again(tmp_path: Path) -> None:
    code = (
        "import sys, os, signal; from pathlib import Path; from ltxcore.store.stage import stage_lock;"
        "lock = stage_lock(Path(sys.argv[1])); lock.__enter__(); os.kill(os.getpid(), signal.SIGKILL)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], timeout=120, cwd=ROOT)
    assert out.returncode == -9 and (tmp_path / ".lock").is_file()
    with open(tmp_path / ".lock") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises BlockingIOError if the dead holder kept it


def test_a_stage_lock_excludes_other_threads_and_lets_its_holder_in_again(tmp_path: Path) -> None:
    order: list[str] = []

    def other() -> None:
        with stage_lock(tmp_path):
            order.append("other thread")

    with stage_lock(tmp_path):
        with stage_lock(tmp_path):  # training takes its stage's lock again inside the store's: no self-deadlock
            order.append("holder, again")
        thread = threading.Thread(target=other)
        thread.start()
        thread.join(timeout=0.5)
        assert thread.is_alive()  # waiting for the holder
        order.append("holder releases")
    thread.join(timeout=60)
    assert order == ["holder, again", "holder releases", "other thread"]


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
