"""A file lock manager that notices when the process holding a lock has died.

Prefect's FileSystemLockManager holds a lock until its holder releases it, and a transaction takes it with no expiry.
A worker killed mid-training (OOM, SIGKILL, a lost node) never releases it, so the retried run would wait forever for
a dead holder. Here each lock records the host and pid that took it; on the same host a lock whose process is gone is
stale and is removed. (Across hosts, use prefect-redis's RedisLockManager with a hold timeout instead.)
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from prefect.locking.filesystem import FileSystemLockManager


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


class ProcessAwareLockManager(FileSystemLockManager):
    def _owner_path(self, key: str) -> Path:
        return self._lock_path_for_key(key).with_suffix(".owner")

    def acquire_lock(
        self, key: str, holder: str, acquire_timeout: float | None = None, hold_timeout: float | None = None
    ) -> bool:
        acquired = super().acquire_lock(key, holder, acquire_timeout, hold_timeout)
        if acquired:
            self._owner_path(key).write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
        return acquired

    def release_lock(self, key: str, holder: str) -> None:
        super().release_lock(key, holder)
        self._owner_path(key).unlink(missing_ok=True)

    def is_locked(self, key: str, use_cache: bool = False) -> bool:
        if not super().is_locked(key, use_cache=use_cache):
            return False
        try:
            owner = json.loads(self._owner_path(key).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return True  # being taken right now: the owner file follows the lock file
        if owner.get("host") == socket.gethostname() and not _alive(int(owner["pid"])):
            self._lock_path_for_key(key).unlink(missing_ok=True)
            self._owner_path(key).unlink(missing_ok=True)
            self._locks.pop(key, None)
            return False
        return True
