"""The CLI's light verbs start without the heavy stack: `--help`, every verb's `--help` and `check` import no torch,
diffusers, Prefect or torchao, and leave nothing in TMPDIR or the working directory. Run in a fresh interpreter, as a
user's shell starts one (bench/startup.py measures the time and memory this buys)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "torchao", "diffusers", "transformers", "prefect", "dask", "distributed", "cv2", "av", "httpx")
# The entry point as `extend-suffix` runs it, writing the names of the modules it imported when it exits.
PROBE = """
import json, sys
out, sys.argv = sys.argv[1], ["extend-suffix", *sys.argv[2:]]
from cli.main import app
try:
    app()
finally:
    with open(out, "w") as f:
        json.dump(sorted(sys.modules), f)
"""
REQUEST = {"training_data_url": "https://example.com/clips.zip", "trigger_phrase": "sks", "number_of_steps": 100}
VERBS = ["check", "prepare", "model-info", "extend", "run", "demo", "serve", "submit", "api", "outputs"]


def _run(args: list[str], tmp: Path) -> tuple[int, str, set[str]]:
    """(exit code, stdout, the top-level packages it imported) of one fresh CLI process with TMPDIR and cwd in tmp."""
    scratch, cwd = tmp / "tmpdir", tmp / "cwd"
    scratch.mkdir(exist_ok=True)
    cwd.mkdir(exist_ok=True)
    modules = tmp / "modules.json"
    env = {**os.environ, "TMPDIR": str(scratch), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(modules), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert not list(scratch.iterdir()), f"{args} wrote {sorted(p.name for p in scratch.iterdir())} into TMPDIR"
    assert not list(cwd.iterdir()), f"{args} wrote {sorted(p.name for p in cwd.iterdir())} into the working directory"
    return done.returncode, done.stdout, {name.partition(".")[0] for name in json.loads(modules.read_text())}


@pytest.mark.parametrize("args", [["--help"], *([verb, "--help"] for verb in VERBS)], ids=lambda a: " ".join(a))
def test_help_imports_none_of_the_heavy_stack_and_writes_nothing(tmp_path: Path, args: list[str]) -> None:
    code, out, imported = _run(args, tmp_path)
    assert code == 0 and "Usage" in out
    assert imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))


def test_check_answers_a_valid_and_a_rejected_request_without_the_heavy_stack(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(REQUEST))
    bad.write_text(json.dumps({**REQUEST, "number_of_steps": -3}))

    code, out, imported = _run(["check", str(good)], tmp_path)
    assert code == 0 and json.loads(out)["number_of_steps"] == 100
    assert imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))

    code, out, imported = _run(["check", str(bad)], tmp_path)
    body = json.loads(out)
    assert code == 2 and body["detail"][0]["loc"] == ["body", "number_of_steps"]
    assert imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))
