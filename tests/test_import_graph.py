"""The import graph runs one way: cli -> flows -> tasks -> ltxcore.job -> sample | train -> model -> intake -> media
-> store -> foundations (errors, geometry, manifests, settings, prompts), with no circles between modules."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cli", "queue_api", "flows", "tasks", "ltxcore")

# Floor of each package; a module may import its own package or any lower floor, never a higher or equal other one.
FLOORS = {
    "cli": 9,
    "queue_api": 8,
    "flows": 7,
    "tasks": 6,
    "ltxcore.job": 5,
    "ltxcore.sample": 4,
    "ltxcore.train": 4,
    "ltxcore.model": 3,
    "ltxcore.intake": 2.5,
    "ltxcore.media": 2,
    "ltxcore.store": 1,
    "ltxcore": 0,  # the foundations: errors, geometry, manifests, settings, prompts
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def floor_of(module: str) -> tuple[str, float]:
    for prefix in sorted(FLOORS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return prefix, FLOORS[prefix]
    raise AssertionError(f"{module} belongs to no layer")


def imports(path: Path) -> set[str]:
    """Every project module `path` imports, at any depth, except under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text())
    skip = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for n in ast.walk(node)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in found if m.split(".")[0] in PACKAGES}


def graph() -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    modules = {module_name(p): p for p in files}
    edges = {}
    for name, path in modules.items():
        # `from ltxcore.store import stages` names the module ltxcore.store.stages; keep only real modules
        edges[name] = {m for m in imports(path) if m in modules and m != name}
    return edges


def test_every_import_points_down_the_floors() -> None:
    edges = graph()
    assert len(edges) > 60
    wrong = []
    for src, targets in edges.items():
        src_pkg, src_floor = floor_of(src)
        for dst in targets:
            dst_pkg, dst_floor = floor_of(dst)
            if dst_pkg != src_pkg and dst_floor >= src_floor:
                wrong.append(f"{src} -> {dst}")
    assert sorted(wrong) == []


def test_no_module_imports_itself_through_a_circle() -> None:
    edges = graph()
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert cycles == []


def test_the_floor_check_sees_a_wrong_import(tmp_path: Path) -> None:
    # The check itself must fail on an upward import: the media layer naming the job layer.
    probe = tmp_path / "m.py"
    probe.write_text("from ltxcore.job.request import parse_request\n")
    assert imports(probe) == {"ltxcore.job.request", "ltxcore.job.request.parse_request"}
    assert floor_of("ltxcore.media.probe")[1] < floor_of("ltxcore.job.request")[1]
