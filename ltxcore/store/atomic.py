"""Atomic writes: readers see a whole file or none, and a crash never leaves a stage that looks finished."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def replace_atomically(path: str | Path, fill: Callable[[Path], object]) -> None:
    """Let `fill` write a new temporary file beside `path`, then rename it over `path`: readers see all or nothing.
    The temporary name is unique, so two runs writing the same file at once never write into each other's copy; it
    starts with a dot, so globs and mirrors of finished files skip it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        fill(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically, fsynced before the rename."""

    def fill(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    replace_atomically(path, fill)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def write_manifest(path: str | Path, manifest: BaseModel) -> None:
    atomic_write_text(path, manifest.model_dump_json(indent=2))


def read_manifest(path: str | Path, model: type[M]) -> M | None:
    """The manifest at `path`, or None if the stage never finished there."""
    path = Path(path)
    if not path.is_file():
        return None
    return model.model_validate_json(path.read_text())
