"""Two identical submissions at once train once; a lock left behind by a killed process does not block the next."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ltxcore.demo_data import make_demo_archive
from tasks.locks import ProcessAwareLockManager

EXE = Path(sys.executable).with_name("extend-suffix")


def test_a_lock_held_by_a_dead_process_is_dropped(tmp_path: Path) -> None:
    code = (
        "import sys, os, signal; from pathlib import Path; from tasks.locks import ProcessAwareLockManager as M;"
        "assert M(Path(sys.argv[1])).acquire_lock('k', 'holder-a'); os.kill(os.getpid(), signal.SIGKILL)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], timeout=120, cwd=Path(__file__).parents[1])
    assert out.returncode == -9 and (tmp_path / "k.lock").is_file()
    manager = ProcessAwareLockManager(tmp_path)
    assert manager.is_locked("k") is False and not (tmp_path / "k.lock").exists()
    assert manager.acquire_lock("k", "holder-b") and manager.is_lock_holder("k", "holder-b")
    assert manager.is_locked("k") is True  # held by this live process
    manager.release_lock("k", "holder-b")
    assert manager.is_locked("k") is False


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
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "EXTEND_SUFFIX_LOCK_DIR": str(tmp_path / "locks")}
    cmd = [str(EXE), "run", str(request), "--work-dir", str(tmp_path / "work"), "--bucket", "64x64"]
    t0 = datetime.now(UTC)
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for _ in range(2)
    ]
    outputs = [p.communicate(timeout=900)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    results = [json.loads(o.strip().splitlines()[-1]) for o in outputs]
    assert results[0]["lora_file"] == results[1]["lora_file"]
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
