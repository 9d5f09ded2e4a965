"""Fixtures shared by the whole suite: isolated homes, a real S3-protocol server on loopback."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli_guard import guard_cli_tracebacks  # noqa: F401  (autouse: a CLI traceback for user input fails the test)
from tests.support.loopback import free_port

# Every test session gets its own Prefect home (database, results, settings) and no telemetry; set before any test
# module imports Prefect.
# Under pytest-xdist each worker is a session of its own: its own home, database, API server and ports.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix=f"extend-suffix-prefect-{WORKER}-")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "ltxcore,diffusers")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
# The tiny preset is built once per test session, here, and every test (and every subprocess a test starts) reads it.
os.environ["EXTEND_SUFFIX_CACHE"] = tempfile.mkdtemp(prefix=f"extend-suffix-cache-{WORKER}-")

# What the quick subset (`./dev.sh test-quick`, `-m "not slow"`) leaves out besides the tests marked slow by hand: the
# job through a Prefect API, the browser, the queue API's servers and the official LTX-2 code as an oracle.
SLOW_FIXTURES = {"prefect_api"}
SLOW_PATHS = ("tests/parity/", "tests/faces/test_ui_browser.py", "tests/faces/test_queue_api_")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) or item.nodeid.startswith(SLOW_PATHS):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 (a real HTTP S3 protocol peer), with s3fs pointed at it via the environment."""
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("moto_server did not start")
    old = {k: os.environ.get(k) for k in ("EXTEND_SUFFIX_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(EXTEND_SUFFIX_S3_ENDPOINT=endpoint, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    try:
        yield endpoint
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture()
def s3_bucket(s3_endpoint: str, request: pytest.FixtureRequest) -> str:
    """A fresh, empty bucket on the loopback S3 server; returns its s3:// URL."""
    from ltxcore.store.fs import filesystem

    name = "t-" + "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:50].strip("-")
    fs, _ = filesystem("s3://")
    fs.mkdir(name)
    fs.invalidate_cache()
    return f"s3://{name}"


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """A real Prefect API (its test harness: a temporary SQLite-backed server on loopback) for flow tests."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Tiny tensors gain nothing from intra-op threads, and on a shared 2-core machine an OpenMP barrier stalls for
    seconds whenever another process holds a core (measured: 60 steps in 4 s alone, up to 160 s under load)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_text() -> object:
    """The tiny preset's connector outputs for one prompt (a TextBatch)."""
    from ltxcore.model.loader import load_components
    from ltxcore.model.spec import ModelSpec
    from ltxcore.model.text import encode_prompts

    components = load_components(ModelSpec.parse("tiny"), {"text_encoder", "tokenizer", "connectors"})
    return encode_prompts(components, ["a red ball moves right"])


class _ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def no_unexpected_error_logs(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that logs an ERROR (here or through Prefect's loggers, which do not propagate) fails, unless it is
    marked `logs_errors` with the reason it expects one: a silent traceback in a log is a bug like any other."""
    recorder = _ErrorRecords()
    loggers = [logging.getLogger(), logging.getLogger("prefect")]
    for logger in loggers:
        logger.addHandler(recorder)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(recorder)
    if recorder.records and request.node.get_closest_marker("logs_errors") is None:
        lines = "\n".join(f"{r.name}: {r.getMessage()[:300]}" for r in recorder.records[:5])
        pytest.fail(f"the test logged {len(recorder.records)} ERROR record(s):\n{lines}")
