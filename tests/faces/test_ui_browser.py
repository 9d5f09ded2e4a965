"""The Prefect UI in a real browser: `prefect server start` on loopback, the tiny job run against it, the run's
artifacts opened in headless Chromium (Debian's package, driven by Playwright). The loss curve renders (it is
embedded, so no file server is needed), every s3:// output's link downloads the file's bytes, and a local output
says where it is and `extend-suffix outputs RUN_ID --to DIR` brings it here."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ltxcore.media.synth import make_demo_archive
from ltxcore.store.fs import filesystem
from tests.support.loopback import free_port

EXE = Path(sys.executable).with_name("extend-suffix")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Outside CI a machine without apt may lack chromium; in CI (./dev.sh setup installed it) a missing browser fails.
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and os.environ.get("CI") != "true", reason="chromium is missing (./dev.sh setup)"
)


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`prefect server start` on a free loopback port with its own home; yields the UI's base URL."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_API_URL": f"{base}/api",  # the UI's own default is port 4200, whatever port it is served on
    }
    env.pop("PREFECT_API_URL", None)
    log = (home / "server.log").open("w")
    prefect = str(Path(sys.executable).with_name("prefect"))
    cmd = [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (home / "server.log").read_text()
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "prefect server start never answered /api/health"
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_archive(tmp_path_factory.mktemp("data"), clips=2, seconds=1.5, size=(96, 96), audio=False)[0]


def request_file(archive: Path, tmp_path: Path, rank: int) -> Path:
    """A tiny request; each test trains its own rank, so neither finds the other's training `Cached` (a cached
    stage makes no artifacts of its own)."""
    path = tmp_path / "request.json"
    fields = {"training_data_url": str(archive), "number_of_steps": 100, "number_of_frames": 25, "rank": rank}
    path.write_text(json.dumps(fields))
    return path


def run_job(ui: str, request_file: Path, work: Path, *extra: str) -> tuple[str, dict[str, Any]]:
    """`extend-suffix run` against the server; returns (flow run id from the UI link it printed, result JSON)."""
    env = {**os.environ, "PREFECT_API_URL": f"{ui}/api"}
    cmd = [str(EXE), "run", str(request_file), "--work-dir", str(work), "--model", "tiny", "--bucket", "64x64", *extra]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    link = re.search(rf"open {re.escape(ui)}/runs/flow-run/([0-9a-f-]{{36}})", out.stderr)
    assert link, out.stderr[-2000:]  # the UI link names the server this run used
    return link.group(1), json.loads(out.stdout.strip().splitlines()[-1])


def artifacts(ui: str, run_id: str) -> dict[str, dict[str, Any]]:
    found = httpx.post(f"{ui}/api/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [run_id]}}}).json()
    return {a["key"]: a for a in found if a["key"]}


def open_artifact(page: Any, ui: str, artifact: dict[str, Any]) -> None:
    page.goto(f"{ui}/artifacts/artifact/{artifact['id']}", wait_until="networkidle")
    page.wait_for_selector("text=" + artifact["key"])


@pytest.fixture()
def page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser.new_page(viewport={"width": 1400, "height": 1000})
        browser.close()


def loss_curve_width(page: Any, ui: str, found: dict[str, dict[str, Any]]) -> int:
    open_artifact(page, ui, found["loss-curve"])
    image = page.wait_for_selector("img[src^='data:image/']")
    page.wait_for_function("img => img.complete", arg=image)
    return image.evaluate("img => img.naturalWidth")


def test_s3_outputs_download_from_their_links_and_the_loss_curve_renders_in_chromium(
    ui: str, archive: Path, tmp_path: Path, s3_bucket: str, page: Any
) -> None:
    request = request_file(archive, tmp_path, rank=8)
    run_id, result = run_job(ui, request, tmp_path / "work", "--output-root", f"{s3_bucket}/out")
    found = artifacts(ui, run_id)
    assert loss_curve_width(page, ui, found) > 0
    page.screenshot(path=str(tmp_path / "loss-curve.png"))
    for key, field in (("lora-file", "lora_file"), ("config-file", "config_file")):
        output = result[field]
        assert output["url"].startswith(f"{s3_bucket}/out/")
        open_artifact(page, ui, found[key])
        hrefs = page.eval_on_selector_all("a[href*='Signature=']", "links => links.map(a => a.href)")
        assert len(hrefs) == 1, f"{key}: {hrefs}"
        answer = page.request.get(hrefs[0])
        fs, path = filesystem(output["url"])
        assert answer.status == 200 and answer.body() == fs.cat_file(path)
        assert len(answer.body()) == output["file_size"] > 0
    page.screenshot(path=str(tmp_path / "config-file.png"))


def test_local_outputs_say_where_they_are_and_the_outputs_verb_fetches_them(
    ui: str, archive: Path, tmp_path: Path, page: Any
) -> None:
    run_id, result = run_job(ui, request_file(archive, tmp_path, rank=16), tmp_path / "work")
    found = artifacts(ui, run_id)
    assert loss_curve_width(page, ui, found) > 0
    lora = Path(result["lora_file"]["url"].removeprefix("file://"))
    open_artifact(page, ui, found["lora-file"])
    text = page.inner_text("body")
    assert str(lora) in text and f"on worker {socket.gethostname()}" in text
    assert f"extend-suffix outputs {run_id} --to DIR" in text
    page.screenshot(path=str(tmp_path / "lora-file.png"))

    env = {**os.environ, "PREFECT_API_URL": f"{ui}/api"}
    dest = tmp_path / "fetched"
    out = subprocess.run(
        [str(EXE), "outputs", run_id, "--to", str(dest)], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in dest.iterdir()) == ["best-lora.safetensors", "config.json", "lora.safetensors"]
    assert (dest / "lora.safetensors").read_bytes() == lora.read_bytes()
    assert json.loads(out.stdout) == result
