"""Every flag a message or a help text names exists: the CLI's own options, the training script's, the bench's.
A message that names a flag the CLI refuses ("No such option") sends a person in a circle."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click
import typer.main

from cli.main import app

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("cli", "flows", "tasks", "ltxcore", "queue_api")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*[a-z0-9](?![\w-])")  # a prefix such as "--no-" is no flag
# flags of programs this project only launches
OTHER_PROGRAMS = {"--nproc-per-node": "torchrun"}


def cli_options() -> set[str]:
    """Every option of every extend-suffix verb, the on and off forms of a switch included."""
    found: set[str] = set()

    def walk(command: click.Command) -> None:
        for param in command.params:
            found.update(o for o in [*param.opts, *param.secondary_opts] if o.startswith("--"))
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    return found


def script_options() -> set[str]:
    """The flags the project's argparse scripts declare (python -m ltxcore.train, bench/)."""
    found: set[str] = set()
    for path in [*ROOT.glob("ltxcore/**/*.py"), *ROOT.glob("bench/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
                found.update(
                    a.value for a in node.args if isinstance(a, ast.Constant) and str(a.value).startswith("--")
                )
    return found


def named_flags() -> dict[str, set[str]]:
    """flag -> the files whose string literals (messages, help, docstrings) name it."""
    named: dict[str, set[str]] = {}
    for pkg in SCANNED:
        for path in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    for found in FLAG.findall(node.value):
                        named.setdefault(found, set()).add(str(path.relative_to(ROOT)))
    return named


def test_every_flag_a_message_names_exists() -> None:
    known = cli_options() | script_options() | set(OTHER_PROGRAMS)
    named = named_flags()
    assert {"--without-audio", "--with-audio", "--bucket", "--work-dir"} <= set(named)  # the scan sees messages
    assert {flag: sorted(files) for flag, files in named.items() if flag not in known} == {}


def test_a_switch_reads_as_people_say_it() -> None:
    options = cli_options()
    assert {"--with-audio", "--without-audio"} <= options and "--no-with-audio" not in options
    assert {"--follow", "--no-follow"} <= options
