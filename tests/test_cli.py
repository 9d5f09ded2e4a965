"""The command line surface: `check` prints the normalised request or the 422 body, verbs are all listed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app

runner = CliRunner()
EXE = Path(sys.executable).with_name("extend-suffix")


def test_check_prints_the_normalised_request_and_exits_0(tmp_path: Path) -> None:
    req = tmp_path / "req.json"
    req.write_text(json.dumps({"training_data_url": "https://h/a.zip", "number_of_frames": 90}))
    result = runner.invoke(app, ["check", str(req)])
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert out["number_of_frames"] == 89 and out["rank"] == 32 and len(out) == 24


def test_check_reads_stdin_and_prints_the_422_body_with_exit_2() -> None:
    result = runner.invoke(app, ["check", "-"], input='{"training_data_url": "https://h/a.zip", "rank": 7}')
    assert result.exit_code == 2
    body = json.loads(result.stdout)
    assert body["status"] == 422 and body["detail"][0]["loc"] == ["body", "rank"]


def test_check_turns_invalid_json_into_a_422_not_a_traceback() -> None:
    result = runner.invoke(app, ["check", "-"], input="{not json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["detail"][0]["type"] == "json_invalid"
    assert "Traceback" not in result.output


def test_check_names_a_missing_request_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", str(tmp_path / "nope.json")])
    assert result.exit_code == 2
    assert "nope.json" in json.loads(result.stdout)["detail"][0]["msg"]


def test_installed_entry_point_lists_every_verb() -> None:
    out = subprocess.run([str(EXE), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    for verb in ("check", "prepare", "model-info", "run", "demo", "extend", "serve", "submit"):
        assert verb in out.stdout
