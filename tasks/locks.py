"""A Prefect lock manager built on kernel file locks (flock), so a dead holder never blocks anyone.

Prefect's FileSystemLockManager marks a lock by creating a file and then writing its holder into it. Two things go
wrong with that here: a lock whose holder was SIGKILLed (OOM, a lost node) stays taken forever, and a second process
that reads the file between its creation and the write fails on the empty JSON (seen when two identical submissions
raced in CI). A flock is taken and dropped atomically by the kernel, and it is dropped when its holder's process
dies. The lock file itself is never deleted: deleting a file that others may be waiting on is how flock locks break.

Across machines use prefect-redis's RedisLockManager instead; a flock only guards one host's disk.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import IO, Any

import anyio.to_thread

_POLL_S = 0.1


class KernelLockManager:
    """Implements prefect.locking.protocol.LockManager. Each acquisition opens its own file description, so two
    holders in one process exclude each other too (flock locks belong to the open file, not to the process)."""

    def __init__(self, lock_files_directory: Path) -> None:
        self.lock_files_directory = Path(lock_files_directory).expanduser().resolve()
        self._held: dict[str, tuple[IO[str], str]] = {}
        self._mutex = threading.Lock()

    # Open files and a mutex do not pickle; a task shipped to another worker gets a fresh manager on the same dir.
    def __getstate__(self) -> dict[str, Any]:
        return {"lock_files_directory": self.lock_files_directory}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["lock_files_directory"])

    def _path(self, key: str) -> Path:
        return self.lock_files_directory / f"{key}.lock"

    def _try_take(self, key: str) -> IO[str] | None:
        self.lock_files_directory.mkdir(parents=True, exist_ok=True)
        f = open(self._path(key), "a+")  # noqa: SIM115 - the open file is the lock; it lives until release
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            return None
        return f

    def _record(self, key: str, f: IO[str], holder: str) -> None:
        # Who holds it, for a person looking at the directory; the lock itself is the flock.
        f.seek(0)
        f.truncate()
        f.write(json.dumps({"holder": holder, "host": socket.gethostname(), "pid": os.getpid()}))
        f.flush()
        with self._mutex:
            self._held[key] = (f, holder)

    def acquire_lock(
        self, key: str, holder: str, acquire_timeout: float | None = None, hold_timeout: float | None = None
    ) -> bool:
        """Wait up to `acquire_timeout` seconds (forever if None). `hold_timeout` is not needed: the kernel frees
        the lock when its holder dies, and a live holder is never robbed of it."""
        if self.is_lock_holder(key, holder):
            return True
        deadline = None if acquire_timeout is None else time.monotonic() + acquire_timeout
        while (f := self._try_take(key)) is None:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_S)
        self._record(key, f, holder)
        return True

    async def aacquire_lock(
        self, key: str, holder: str, acquire_timeout: float | None = None, hold_timeout: float | None = None
    ) -> bool:
        # The wait polls and sleeps; on a worker thread it keeps the event loop free.
        return await anyio.to_thread.run_sync(self.acquire_lock, key, holder, acquire_timeout, hold_timeout)

    def release_lock(self, key: str, holder: str) -> None:
        with self._mutex:
            f, owner = self._held.get(key, (None, None))
            if f is None or owner != holder:
                raise ValueError(f"No lock held by {holder} for transaction with key {key}")
            del self._held[key]
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        f.close()

    def is_locked(self, key: str) -> bool:
        with self._mutex:
            if key in self._held:
                return True
        if not self._path(key).exists():
            return False
        f = self._try_take(key)
        if f is None:
            return True
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        f.close()
        return False

    def is_lock_holder(self, key: str, holder: str) -> bool:
        with self._mutex:
            return key in self._held and self._held[key][1] == holder

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_locked(key):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_S)
        return True

    async def await_for_lock(self, key: str, timeout: float | None = None) -> bool:
        return await anyio.to_thread.run_sync(self.wait_for_lock, key, timeout)
