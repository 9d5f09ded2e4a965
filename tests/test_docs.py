"""The documentation cites only what exists: every repository path, module, command, flag and internal link in
README.md and docs/ resolves, so a reader following one never lands on nothing."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import typer.main

from cli.main import app

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOP = ("cli", "flows", "tasks", "ltxcore", "queue_api", "tests", "bench", "infra", "docs")
PATH = re.compile(rf"^(?:{'|'.join(TOP)})/[\w./*-]*$|^[\w.-]+\.(?:sh|txt|toml|md)$")
MODULE = re.compile(r"^(?:ltxcore|tasks|flows|cli|queue_api)(?:\.\w+)+$")
LINK = re.compile(r"(?<!!)\[[^\]]+\]\(([^)\s]+)\)")
CODE = re.compile(r"`([^`\n]+)`")
DEV_VERBS = {
    v for case in re.findall(r"^    ([\w|-]+)\)", (ROOT / "dev.sh").read_text(), re.M) for v in case.split("|")
}


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    heads = re.findall(r"^#+ (.+)$", page.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def commands() -> dict[str, set[str]]:
    """extend-suffix's verbs and each one's options (`--help` too: click adds it to every verb)."""
    group = typer.main.get_command(app)
    return {
        name: {"--help", *(o for p in cmd.params for o in [*p.opts, *p.secondary_opts] if o.startswith("--"))}
        for name, cmd in group.commands.items()
    }


def cited(page: Path) -> list[str]:
    """Inline code spans and code block lines of a page."""
    text = page.read_text()
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
    inline = CODE.findall(re.sub(r"```.*?```", "", text, flags=re.S))
    return [*inline, *(line for b in blocks for line in b.splitlines())]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_internal_link_resolves(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text()):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists() or (anchor and anchor not in anchors(dest)):
            broken.append(target)
    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_repository_path_and_module_exists(page: Path) -> None:
    missing = []
    for span in cited(page):
        for token in span.split():
            token = token.strip(",;:()")
            is_path, is_module = PATH.match(token), MODULE.match(token)
            if (is_path and not _exists(token)) or (is_module and not _resolves(token)):
                missing.append(token)
    assert missing == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_and_flag_exists(page: Path) -> None:
    verbs = commands()
    wrong = []
    for span in cited(page):
        words = span.replace(".venv/bin/extend-suffix", "extend-suffix").split()
        for i, word in enumerate(words[:-1]):
            if word == "./dev.sh" and words[i + 1] not in DEV_VERBS | {"demo|test|setup|lint"}:
                wrong.append(" ".join(words[i : i + 2]))
            if word != "extend-suffix" or words[i + 1].startswith("-"):
                continue
            verb = words[i + 1]
            if verb not in verbs:
                wrong.append(f"extend-suffix {verb}")
                continue
            rest = words[i + 2 :]
            end = next((j for j, w in enumerate(rest) if w in ("#", "|", "&&", "extend-suffix")), len(rest))
            flags = {w.strip("[],").split("=")[0] for w in rest[:end] if w.strip("[").startswith("--")}
            wrong += [f"extend-suffix {verb} {f}" for f in sorted(flags - verbs[verb])]
    assert wrong == []


def test_the_readme_stays_an_entrance() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    assert all(f"docs/{p.name}" in readme for p in PAGES[1:])  # every page one click from the README


def _exists(path: str) -> bool:
    return (ROOT / path).exists() or bool(list(ROOT.glob(path)))


def _resolves(dotted: str) -> bool:
    """A module, or an attribute of one (`tasks.common.metered`)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(obj, name):
                return False
            obj = getattr(obj, name)
        return True
    return False
