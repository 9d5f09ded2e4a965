"""The suite's CLI traceback guard (tests/support/cli_guard.py) really fails a test, and lets a clean 422 through."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

EXE = Path(sys.executable).with_name("extend-suffix")


def test_a_cli_subprocess_printing_a_traceback_fails_the_test(tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "extend-suffix"  # stands in for a CLI that crashes on its input
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'Traceback (most recent call last):' >&2\necho 'ValueError: boom' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(pytest.fail.Exception) as err:
        subprocess.run([str(fake), "check", "x.json"], capture_output=True, text=True, timeout=30)
    assert "printed a Python traceback" in str(err.value) and "ValueError: boom" in str(err.value)


def test_a_cli_runner_invocation_raising_fails_the_test() -> None:
    app = typer.Typer()

    @app.command()
    def crash(value: str) -> None:
        raise ValueError(f"cannot handle {value}")

    with pytest.raises(pytest.fail.Exception) as err:
        CliRunner().invoke(app, ["boom"])
    assert "raised ValueError" in str(err.value) and "cannot handle boom" in str(err.value)


def test_a_rejected_request_passes_the_guard_with_exit_2(tmp_path: Path) -> None:
    req = tmp_path / "r.json"
    req.write_text('{"training_data_url": "https://example.com/d.zip", "learning_rate": NaN}')
    out = subprocess.run([str(EXE), "check", str(req)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert json.loads(out.stdout)["detail"][0]["loc"] == ["body", "learning_rate"]
