"""A stage mirror for workers that share no disk: every file a stage's result names is copied to an s3:// prefix,
and every file a stage's inputs name is fetched from there if this worker does not have it.

Stage outputs live under `<work root>/<stage>/<content key>/...`, the same relative path on every worker, so a local
path maps to exactly one mirrored object. Paths are found by walking the task's arguments and result (pydantic
manifests, lists, dicts, strings) for absolute paths under the work root. Each stage's manifest is mirrored last,
after its files, so a stage finished on one worker counts as finished on every worker (ltxcore.store.stage.finished).
Set EXTEND_SUFFIX_STAGE_MIRROR=s3://...; unset, there is no mirror.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ltxcore.store.atomic import replace_atomically
from ltxcore.store.fs import filesystem


def paths_in(value: Any, root: Path) -> Iterator[Path]:
    """Every absolute path under `root` that `value` names, however deeply nested."""
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from paths_in(getattr(value, name), root)
    elif isinstance(value, dict):
        for item in value.values():
            yield from paths_in(item, root)
    elif isinstance(value, list | tuple | set):
        for item in value:
            yield from paths_in(item, root)
    elif isinstance(value, str) and value.startswith("/"):
        path = Path(value)
        if path.is_relative_to(root):
            yield path


class StageMirror:
    def __init__(self, root: Path, remote: str) -> None:
        self.root, self.remote = root, remote.rstrip("/")
        self.fs, _ = filesystem(self.remote)

    @classmethod
    def maybe(cls, work_root: str, remote: str | None) -> StageMirror | None:
        """The mirror of `work_root` on `remote`, or None when the deployment sets no mirror."""
        return cls(Path(work_root).resolve(), remote) if remote else None

    def _key(self, path: Path) -> str:
        _, key = filesystem(f"{self.remote}/{path.resolve().relative_to(self.root).as_posix()}")
        return key

    def has(self, path: Path) -> bool:
        """Whether the mirror holds the file this worker would have at `path`."""
        return self.fs.isfile(self._key(path))

    def fetch(self, path: Path) -> bool:
        """Fetch the mirrored copy of `path` if there is one; True when it came."""
        if not self.has(path):
            return False
        self._fetch(self._key(path), path)
        return True

    def push_file(self, path: Path) -> None:
        self.fs.put_file(str(path), self._key(path))

    def pull(self, value: Any) -> None:
        for path in set(paths_in(value, self.root)):
            if path.exists() or not self.fs.isfile(self._key(path)):
                continue  # here already, or a directory / a file this stage makes itself
            self._fetch(self._key(path), path)

    def push(self, value: Any) -> None:
        for path in set(paths_in(value, self.root)):
            if path.is_file():
                self.fs.put_file(str(path), self._key(path))

    def pull_dir(self, local: Path) -> list[Path]:
        """Fetch every mirrored file under `local` that this worker lacks (a training run's checkpoints and log,
        left by a worker that died); returns what was fetched."""
        prefix = self._key(local)
        fetched = []
        for key in sorted(self.fs.find(prefix)):
            path = local / key[len(prefix) :].lstrip("/")
            if path.exists():
                continue
            self._fetch(key, path)
            fetched.append(path)
        return fetched

    def _fetch(self, key: str, path: Path) -> None:
        replace_atomically(path, lambda tmp: self.fs.get_file(key, str(tmp)))

    def push_dir(self, local: Path, names: Callable[[Path], bool]) -> None:
        """Make the mirror of `local` hold exactly its files that `names` accepts: upload new and changed ones,
        delete mirrored ones gone here (checkpoints pruned by the trainer)."""
        prefix = self._key(local)
        here = {p.relative_to(local).as_posix(): p for p in local.rglob("*") if p.is_file() and names(p)}
        there = {k[len(prefix) :].lstrip("/"): info for k, info in self.fs.find(prefix, detail=True).items()}
        for rel, path in sorted(here.items()):
            if rel not in there or int(there[rel].get("size") or -1) != path.stat().st_size:  # the log only grows
                self.fs.put_file(str(path), f"{prefix}/{rel}")
        for rel in sorted(set(there) - set(here)):
            if names(local / rel):
                self.fs.rm_file(f"{prefix}/{rel}")


class CheckpointMirror:
    """Keeps a training run's checkpoints (and its loss log, which a resume continues) on the stage mirror, so a run
    whose worker died resumes on another worker from the newest mirrored checkpoint instead of from step 0."""

    def __init__(self, mirror: StageMirror, run_dir: Path) -> None:
        self.mirror, self.run_dir = mirror, run_dir
        self._pushed: str | None = None

    @staticmethod
    def _kept(path: Path) -> bool:
        if path.name.startswith("."):
            return False  # a temporary file of a write in progress, or left by a crash
        return path.parent.name == "checkpoints" or path.name == "metrics.jsonl"

    def restore(self) -> list[Path]:
        return self.mirror.pull_dir(self.run_dir)

    def push_if_new(self) -> bool:
        """Mirror the run when a checkpoint appeared since the last push (a sidecar is written last, so it marks a
        whole checkpoint); cheap to call after every step."""
        sidecars = sorted((self.run_dir / "checkpoints").glob("step-*.json"))
        newest = sidecars[-1].name if sidecars else None
        if newest is None or newest == self._pushed:
            return False
        self.mirror.push_dir(self.run_dir, self._kept)
        self._pushed = newest
        return True
