"""A suite-wide guard: a CLI invocation in a test that prints a Python traceback fails that test.

User input must end in exit 0 or 2 with a 422 body, never in a traceback (exit 1 is for infrastructure faults, and
those too should say what failed in a sentence). The guard wraps the two ways tests run the CLI: `subprocess.run`
of the `extend-suffix` executable (when its output is captured), and typer's `CliRunner.invoke` (a raised exception
other than SystemExit, or a traceback in the output). It fails the test at the call, with the output.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TRACEBACK = "Traceback (most recent call last)"
CLI_NAME = "extend-suffix"


def _text(out: object) -> str:
    if isinstance(out, bytes):
        return out.decode(errors="replace")
    return out if isinstance(out, str) else ""


def _is_cli(args: Any) -> bool:
    argv = [args] if isinstance(args, str | Path) else list(args or [])
    return bool(argv) and Path(str(argv[0]).split()[0]).name == CLI_NAME


def check_cli_output(what: str, output: str) -> None:
    """Fail the running test when `output` of a CLI invocation holds a Python traceback."""
    if TRACEBACK in output:
        pytest.fail(f"{what} printed a Python traceback:\n{output[-3000:]}", pytrace=False)


@pytest.fixture(autouse=True)
def guard_cli_tracebacks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real_run = subprocess.run

    def run(args: Any, *a: Any, **kw: Any) -> subprocess.CompletedProcess:
        done = real_run(args, *a, **kw)
        if _is_cli(args):
            check_cli_output(f"`{' '.join(map(str, args))}`", _text(done.stdout) + _text(done.stderr))
        return done

    monkeypatch.setattr(subprocess, "run", run)
    try:
        from typer.testing import CliRunner
    except ImportError:  # the guard needs no typer where the CLI is not installed
        yield
        return
    real_invoke = CliRunner.invoke

    def invoke(self: CliRunner, app: Any, args: Any = None, *a: Any, **kw: Any) -> Any:
        result = real_invoke(self, app, args, *a, **kw)
        what = f"CliRunner.invoke({args!r})"
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            import traceback

            tb = "".join(traceback.format_exception(result.exception))
            pytest.fail(f"{what} raised {type(result.exception).__name__}:\n{tb[-3000:]}", pytrace=False)
        check_cli_output(what, result.output)
        return result

    monkeypatch.setattr(CliRunner, "invoke", invoke)
    yield
