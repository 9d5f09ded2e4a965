"""A stage mirror for workers that share no disk: every file a stage's result names is copied to an s3:// prefix,
and every file a stage's inputs name is fetched from there if this worker does not have it.

Stage outputs live under `<work root>/<stage>/<content key>/...`, the same relative path on every worker, so a local
path maps to exactly one mirrored object. Paths are found by walking the task's arguments and result (pydantic
manifests, lists, dicts, strings) for absolute paths under the work root. Set EXTEND_SUFFIX_STAGE_MIRROR=s3://...;
unset, the decorator does nothing.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from pydantic import BaseModel

from ltxcore.settings import JobSettings
from ltxcore.storage import filesystem
from ltxcore.store import temp_beside

P = ParamSpec("P")
R = TypeVar("R")


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
    def from_env(cls) -> StageMirror | None:
        settings = JobSettings.from_env()
        return cls(Path(settings.work_root).resolve(), settings.stage_mirror) if settings.stage_mirror else None

    def _key(self, path: Path) -> str:
        _, key = filesystem(f"{self.remote}/{path.relative_to(self.root).as_posix()}")
        return key

    def pull(self, value: Any) -> None:
        for path in set(paths_in(value, self.root)):
            if path.exists() or not self.fs.isfile(self._key(path)):
                continue  # here already, or a directory / a file this stage makes itself
            part = temp_beside(path)
            try:
                self.fs.get_file(self._key(path), str(part))
                os.replace(part, path)
            finally:
                part.unlink(missing_ok=True)

    def push(self, value: Any) -> None:
        for path in set(paths_in(value, self.root)):
            if path.is_file():
                self.fs.put_file(str(path), self._key(path))


def mirrored(fn: Callable[P, R]) -> Callable[P, R]:
    """Fetch the files a stage's arguments name before it runs, and mirror the files its result names after."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        mirror = StageMirror.from_env()
        if mirror is not None:
            mirror.pull([args, kwargs])
        result = fn(*args, **kwargs)
        if mirror is not None:
            mirror.push(result)
        return result

    return wrapper
