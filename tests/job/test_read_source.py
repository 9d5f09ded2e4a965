"""Reading the request (cli/common.read_source): raw bytes from a file or stdin, decoded only by load_json.

Non-UTF-8 bytes are a 422 on the body (never a decoding traceback on stdin, never a silent U+FFFD from a file), a
UTF-8 BOM is accepted, and a path that is not a regular file is a 422 on `file` that says so.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()
REQUEST = {"training_data_url": "https://h/a.zip", "trigger_phrase": "caf\u00e9"}


def _422(result) -> dict:
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    (detail,) = json.loads(result.stdout)["detail"]
    return detail


def test_non_utf8_bytes_on_stdin_are_a_422_on_the_body_not_a_traceback() -> None:
    result = runner.invoke(app, ["check", "-"], input=b'{"training_data_url": "https://h/\xff.zip"}')
    detail = _422(result)
    assert detail["loc"] == ["body"] and detail["type"] == "json_invalid"
    assert detail["msg"] == "request is not UTF-8 text (byte 33)"


def test_non_utf8_bytes_in_a_file_are_a_422_not_replaced_by_u_fffd(tmp_path: Path) -> None:
    req = tmp_path / "req.json"
    req.write_bytes(b'{"training_data_url": "https://h/a.zip", "trigger_phrase": "caf\xe9"}')  # Latin-1
    detail = _422(runner.invoke(app, ["check", str(req)]))
    assert detail["loc"] == ["body"] and detail["type"] == "json_invalid" and "not UTF-8" in detail["msg"]


def test_a_utf8_bom_is_accepted_from_a_file_and_from_stdin(tmp_path: Path) -> None:
    raw = b"\xef\xbb\xbf" + json.dumps(REQUEST, ensure_ascii=False).encode("utf-8")
    req = tmp_path / "req.json"
    req.write_bytes(raw)
    for result in (runner.invoke(app, ["check", str(req)]), runner.invoke(app, ["check", "-"], input=raw)):
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["trigger_phrase"] == "caf\u00e9"


def test_a_directory_as_the_request_file_is_a_422_saying_it_is_not_a_regular_file(tmp_path: Path) -> None:
    detail = _422(runner.invoke(app, ["check", str(tmp_path)]))
    assert detail["loc"] == ["file"] and detail["type"] == "file_not_regular"
    assert detail["msg"] == f"request file {str(tmp_path)!r} is not a regular file"


def test_a_device_as_the_request_file_is_a_422_saying_it_is_not_a_regular_file() -> None:
    detail = _422(runner.invoke(app, ["check", "/dev/zero"]))
    assert detail["loc"] == ["file"] and detail["msg"] == "request file '/dev/zero' is not a regular file"


def test_a_missing_request_file_still_says_it_does_not_exist(tmp_path: Path) -> None:
    detail = _422(runner.invoke(app, ["check", str(tmp_path / "nope.json")]))
    assert detail["loc"] == ["file"] and detail["type"] == "file_missing" and "does not exist" in detail["msg"]
