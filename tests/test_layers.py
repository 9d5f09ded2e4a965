"""The library layer stays usable without Prefect: ltxcore never imports it, directly or through a dependency."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_ltxcore_source_file_imports_prefect() -> None:
    offenders = []
    files = sorted((ROOT / "ltxcore").rglob("*.py"))
    assert len(files) >= 5
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in ("prefect", "flows", "tasks")
            ]
    assert offenders == []


def test_importing_every_ltxcore_module_loads_no_prefect() -> None:
    code = (
        "import importlib, pkgutil, sys, ltxcore\n"
        "mods = [m.name for m in pkgutil.walk_packages(ltxcore.__path__, 'ltxcore.')]\n"
        "[importlib.import_module(m) for m in mods if not m.endswith('__main__')]\n"
        "bad = sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.'))\n"
        "print(len(mods), bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    count, bad = out.stdout.strip().split(" ", 1)
    assert int(count) >= 5 and bad == "[]"
