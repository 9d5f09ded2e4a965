"""`extend-suffix submit` against a served deployment as a user runs it: the UI link it prints is the API's own, its
log lines name the stage they came from, and `--download DIR` brings the outputs to this machine."""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import subprocess
import threading
from pathlib import Path

import pytest

from ltxcore.media.synth import make_demo_archive
from tests.orchestration.test_deployment import EXE, serve_process

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_submit_prints_the_api_s_ui_link_names_each_stage_and_downloads_the_outputs(tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    archive = make_demo_archive(tmp_path / "data", clips=2, seconds=1.5, size=(96, 96), audio=False)[0]
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(archive.parent))
    files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=files.serve_forever, daemon=True).start()
    api = PREFECT_API_URL.value()
    (tmp_path / "served").mkdir()
    try:
        with serve_process(tmp_path / "served", "ui-submit", archive):
            request = tmp_path / "request.json"
            url = f"http://127.0.0.1:{files.server_address[1]}/{archive.name}"
            fields = {"training_data_url": url, "number_of_steps": 100, "number_of_frames": 25, "rank": 16}
            request.write_text(json.dumps(fields))
            cmd = [str(EXE), "submit", str(request), "--deployment", "extend-suffix/ui-submit"]
            cmd += ["--download", str(tmp_path / "fetched")]
            env = {**os.environ, "PREFECT_API_URL": api}
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    finally:
        files.shutdown()
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    run_id = re.search(r"submitted flow run ([0-9a-f-]{36})", out.stderr).group(1)
    assert f"open {api.removesuffix('/api')}/runs/flow-run/{run_id}" in out.stderr

    log_lines = re.findall(r"^\d\d:\d\d:\d\d (.*)$", out.stderr, flags=re.MULTILINE)
    finished = [line for line in log_lines if "Finished in state" in line]
    assert finished and all(re.match(r"[\w.-]+: Finished in state", line) for line in finished), finished
    stages = {line.split(":", 1)[0].rsplit("-", 1)[0] for line in finished}
    assert {"fetch-archive", "encode-dataset", "train-lora", "publish", "flow"} <= stages

    published = Path(result["lora_file"]["url"].removeprefix("file://"))
    fetched = tmp_path / "fetched"
    assert sorted(p.name for p in fetched.iterdir()) == ["best-lora.safetensors", "config.json", "lora.safetensors"]
    assert (fetched / "lora.safetensors").read_bytes() == published.read_bytes()
    assert (fetched / "lora.safetensors").stat().st_size == result["lora_file"]["file_size"] > 1000
