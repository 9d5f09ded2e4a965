"""Content keys: a stable hash of a stage's inputs, and of a file's bytes."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel


def content_key(stage: str, version: int, **parts: Any) -> str:
    """A stable hash of a stage's inputs; pydantic models are hashed by their JSON form."""

    def plain(v: Any) -> Any:
        if isinstance(v, BaseModel):
            return v.model_dump(mode="json")
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    raw = json.dumps({"stage": stage, "version": version, "parts": plain(parts)}, sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


STORE_ID = ".store-id"  # a dot file: mirrors and globs of finished stages skip it


def store_id(root: str | Path) -> str:
    """The incarnation of the stage store at `root` ('' when none is marked): a store deleted and made anew at the
    same path gets a new one, so a result cached for the old store's files is never taken for the new store's."""
    try:
        return (Path(root) / STORE_ID).read_text().strip()
    except OSError:
        return ""


def mark_store(root: str | Path) -> str:
    """Create the store's directory and its incarnation mark if they are missing; return the mark. Two processes
    marking at once agree: the mark is linked into place only if none is there."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if existing := store_id(root):
        return existing
    tmp = root / f"{STORE_ID}.{uuid.uuid4().hex}"
    tmp.write_text(uuid.uuid4().hex)
    try:
        os.link(tmp, root / STORE_ID)
    except FileExistsError:
        pass  # another process marked it first: its mark is the store's
    finally:
        tmp.unlink()
    return store_id(root)
