"""Settings are resolved once where a job enters and handed down: below the entry points no module builds
JobSettings or ToolSettings or reads the environment. Guarded like the import floors (tests/test_import_graph.py)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BELOW_ENTRY = ("ltxcore", "tasks", "flows")

# Where a job enters, each for its own reason; cli/ and queue_api/ are entry points as a whole and are not scanned.
ENTRY_POINTS = {
    # a served run's start: a deployment's settings are its worker's environment
    "flows/extend_suffix.py": {"JobSettings"},
    "flows/training.py": {"JobSettings"},
    # Prefect's own logging and telemetry defaults, set before Prefect is imported (not settings of the job)
    "flows/__init__.py": {"os.environ"},
    # this machine's tools (ffmpeg, the model cache, S3 credentials) are read where used, through this one accessor:
    # a worker on another machine has its own
    "ltxcore/settings.py": {"ToolSettings"},
    # torchrun's contract with the processes it starts (rank, world size), and PyTorch's allocator switch
    "ltxcore/train/__main__.py": {"os.environ"},
    "ltxcore/train/parallel.py": {"os.environ"},
    "ltxcore/train/speed.py": {"os.environ"},
}


def reads(path: Path) -> set[str]:
    """What `path` reads settings through: a JobSettings() / ToolSettings() call, os.environ or os.getenv."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("JobSettings", "ToolSettings")
        ):
            found.add(node.func.id)
        elif isinstance(node, ast.Attribute) and ast.unparse(node) in ("os.environ", "os.getenv"):
            found.add(ast.unparse(node))
    return found


def test_nothing_below_the_entry_points_reads_settings_from_the_environment() -> None:
    files = sorted(p for pkg in BELOW_ENTRY for p in (ROOT / pkg).rglob("*.py"))
    assert len(files) > 100
    offenders = {}
    for path in files:
        rel = str(path.relative_to(ROOT))
        extra = reads(path) - ENTRY_POINTS.get(rel, set())
        if extra:
            offenders[rel] = sorted(extra)
    assert offenders == {}


def test_every_allowed_entry_still_reads_what_it_is_allowed() -> None:
    # an entry that stopped reading loses its exception, so the list never grows stale
    assert {rel: reads(ROOT / rel) for rel in ENTRY_POINTS} == ENTRY_POINTS


def test_the_guard_sees_each_kind_of_read(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import os\nJobSettings()\nx = ToolSettings().cache\nos.environ['A']\nos.getenv('B')\n")
    assert reads(probe) == {"JobSettings", "ToolSettings", "os.environ", "os.getenv"}
