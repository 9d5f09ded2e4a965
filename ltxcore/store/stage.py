"""Content-addressed, atomic stage outputs on local disk or any fsspec URL (s3://...).

Every stage writes under `<root>/<stage>/<key>/`, where key = hash(input fingerprints, parameters, stage version), and
marks completion by writing its manifest last. A crash leaves no manifest, so the stage never looks finished.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

log = logging.getLogger(__name__)


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


@contextmanager
def stage_lock(out: Path) -> Iterator[None]:
    """Hold `out` exclusively while a stage computes into it.

    Two runs (processes, or threads of one) that reach the same content key at once would otherwise write the same
    files at the same time, and one would read the other's half-written video. The second waits here, then finds the
    first one's manifest. It is a kernel lock (flock on `out/.lock`), so it is dropped when its holder dies: a
    killed run never blocks the next, which resumes from whatever the dead one left.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "a") as f:
        locked = True
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another run is computing %s; waiting for it to finish", out)
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        except OSError as exc:  # a filesystem without locks (some network mounts): run unguarded, as before
            log.warning("cannot lock %s (%s); identical runs at once may compute it twice", out, exc)
            locked = False
        try:
            yield
        finally:
            if locked:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def run_stage(
    work_dir: Path, stage: str, version: int, parts: dict[str, Any], model: type[M], run: Callable[[Path], M]
) -> M:
    """A content-addressed stage: reuse `<stage>/<key>/manifest.json` if it exists, else run and write it last."""
    out = Path(work_dir) / stage / content_key(stage, version, **parts)
    done = read_manifest(out / "manifest.json", model)
    if done is not None:
        return done
    with stage_lock(out):
        done = read_manifest(out / "manifest.json", model)  # the run we waited for may have finished it
        if done is not None:
            return done
        result = run(out)
        write_manifest(out / "manifest.json", result)
        return result
