"""Content-addressed, atomic stage outputs on local disk or any fsspec URL (s3://...): the one owner of reuse.

Every stage writes under `<root>/<stage>/<key>/`, where key = hash(input fingerprints, parameters, stage version), and
marks completion by writing its manifest last. A crash leaves no manifest, so the stage never looks finished. A stage
is reused only when its manifest is there and every file the manifest names is on this disk or on the stage mirror;
a work root deleted and made anew at the same path therefore computes its stages again instead of trusting a record
kept elsewhere. Callers (the CLI, the Prefect tasks) keep no cache of their own.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from ltxcore.store.atomic import read_manifest, write_manifest
from ltxcore.store.keys import content_key
from ltxcore.store.mirror import StageMirror, paths_in

M = TypeVar("M", bound=BaseModel)

log = logging.getLogger(__name__)

_held = threading.local()  # the stage directories this thread holds the lock of


@contextmanager
def stage_lock(out: Path) -> Iterator[None]:
    """Hold `out` exclusively while a stage computes into it.

    Two runs (processes, or threads of one) that reach the same content key at once would otherwise write the same
    files at the same time, and one would read the other's half-written video. The second waits here, then finds the
    first one's manifest. It is a kernel lock (flock on `out/.lock`), so it is dropped when its holder dies: a
    killed run never blocks the next, which resumes from whatever the dead one left. A thread that holds `out`
    already (training under its stage's lock) passes straight through: a second flock of its own would wait forever.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    held: set[Path] = _held.__dict__.setdefault("paths", set())
    key = out.resolve()
    if key in held:
        yield
        return
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
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)
            if locked:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)


@dataclass
class StoreSession:
    """What the stages of one caller (one Prefect task run) did, and where they look besides this disk.

    `mirror` is the deployment's stage mirror, if any; `inputs` the caller's arguments, whose files are fetched from
    the mirror only when a stage is about to compute (a reused stage needs none of them). `computed` and `reused`
    count stages, so the caller can tell a run that reused everything (shown as `Cached`) from one that worked."""

    mirror: StageMirror | None = None
    inputs: Any = None
    computed: int = 0
    reused: int = 0
    _inputs_pulled: bool = field(default=False, repr=False)

    @property
    def all_reused(self) -> bool:
        return self.computed == 0 and self.reused > 0

    def before_compute(self) -> None:
        if self.mirror is not None and not self._inputs_pulled:
            self.mirror.pull(self.inputs)
            self._inputs_pulled = True


_session: ContextVar[StoreSession | None] = ContextVar("store_session", default=None)


@contextmanager
def store_session(mirror: StageMirror | None = None, inputs: Any = None) -> Iterator[StoreSession]:
    """Count (and mirror) every stage computed or reused in this block; see StoreSession."""
    session = StoreSession(mirror=mirror, inputs=inputs)
    token = _session.set(session)
    try:
        yield session
    finally:
        _session.reset(token)


@dataclass(frozen=True)
class Stage:
    """A stage's identity: its name (the directory under the work root) and its version (bumped when what it writes
    changes, so old outputs go cold). Every stage is declared once, in ltxcore.store.stages; its directory name is
    its content key, and nothing else keys its outputs."""

    name: str
    version: int

    def key(self, **parts: Any) -> str:
        return content_key(self.name, self.version, **parts)

    def dir(self, work_root: str | Path, **parts: Any) -> Path:
        return Path(work_root) / self.name / self.key(**parts)

    def run(self, work_root: str | Path, parts: dict[str, Any], model: type[M], run: Callable[[Path], M]) -> M:
        """Reuse `<stage>/<key>/manifest.json` if it exists, else run under the stage lock and write it last."""
        return compute_once(self.dir(work_root, **parts), model, run)


def finished(out: Path, model: type[M], manifest: str = "manifest.json", mirror: StageMirror | None = None) -> M | None:
    """The manifest of the stage finished in `out` (a `<work root>/<stage>/<key>` directory), or None.

    Finished means: the manifest is here (or on the mirror, which is then fetched) and every file it names under
    the work root is on this disk or on the mirror (fetched later, by the stage that reads it). A manifest whose files
    are gone (deleted by hand, or a store rebuilt over an old record) does not count: the stage computes again."""
    path = Path(out) / manifest
    if mirror is not None and not path.is_file():
        mirror.fetch(path)
    done = read_manifest(path, model)
    if done is None:
        return None
    missing = [p for p in _named_files(done, Path(out)) if not p.exists()]
    if mirror is not None:
        missing = [p for p in missing if not mirror.has(p)]
    if missing:
        log.warning("%s names %d missing files (%s, ...); computing the stage again", path, len(missing), missing[0])
        return None
    return done


def _named_files(manifest: BaseModel, out: Path) -> set[Path]:
    """Every path under the work root (`out`'s grandparent) that `manifest` names, as written or resolved."""
    roots = {out.absolute().parents[1], out.resolve().parents[1]}
    return {p for root in roots for p in paths_in(manifest, root)}


def reuse(out: Path, model: type[M], manifest: str = "manifest.json") -> M | None:
    """`finished(out, ...)` with the running session's mirror, counted as reused when found."""
    session = _session.get() or StoreSession()
    done = finished(out, model, manifest, session.mirror)
    if done is not None:
        session.reused += 1
    return done


def compute_once(out: Path, model: type[M], run: Callable[[Path], M], manifest: str = "manifest.json") -> M:
    """The manifest `out/manifest` if a run finished it (see `finished`), else `run(out)` under the stage lock, its
    manifest written last (and mirrored, files first). Of two runs reaching the same directory at once, the second
    waits and then reads the first one's."""
    done = reuse(out, model, manifest)
    if done is not None:
        return done
    with stage_lock(out):
        done = reuse(out, model, manifest)  # the run we waited for may have finished it
        if done is not None:
            return done
        session = _session.get() or StoreSession()
        session.before_compute()
        result = run(out)
        write_manifest(out / manifest, result)
        session.computed += 1
        if session.mirror is not None:
            session.mirror.push(result)
            session.mirror.push_file(out / manifest)  # last: a mirrored manifest means its files are there
        return result
