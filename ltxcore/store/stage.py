"""Content-addressed, atomic stage outputs on local disk or any fsspec URL (s3://...).

Every stage writes under `<root>/<stage>/<key>/`, where key = hash(input fingerprints, parameters, stage version), and
marks completion by writing its manifest last. A crash leaves no manifest, so the stage never looks finished.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from ltxcore.store.atomic import read_manifest, write_manifest
from ltxcore.store.keys import content_key

M = TypeVar("M", bound=BaseModel)

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class Stage:
    """A stage's identity: its name (the directory under the work root) and its version (bumped when what it writes
    changes, so old outputs go cold). Every stage is declared once, in ltxcore.store.stages; its directory and its
    Prefect cache key both come from `key`."""

    name: str
    version: int

    def key(self, **parts: Any) -> str:
        return content_key(self.name, self.version, **parts)

    def dir(self, work_root: str | Path, **parts: Any) -> Path:
        return Path(work_root) / self.name / self.key(**parts)

    def run(self, work_root: str | Path, parts: dict[str, Any], model: type[M], run: Callable[[Path], M]) -> M:
        """Reuse `<stage>/<key>/manifest.json` if it exists, else run under the stage lock and write it last."""
        return compute_once(self.dir(work_root, **parts), model, run)


def compute_once(out: Path, model: type[M], run: Callable[[Path], M], manifest: str = "manifest.json") -> M:
    """The manifest `out/manifest` if a run finished it, else `run(out)` under the stage lock, its manifest written
    last. Of two runs reaching the same directory at once, the second waits and then reads the first one's."""
    done = read_manifest(out / manifest, model)
    if done is not None:
        return done
    with stage_lock(out):
        done = read_manifest(out / manifest, model)  # the run we waited for may have finished it
        if done is not None:
            return done
        result = run(out)
        write_manifest(out / manifest, result)
        return result
