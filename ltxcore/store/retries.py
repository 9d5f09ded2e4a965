"""Retries, declared once per kind of fault. Only I/O is retried; a user's mistake (RequestRejected) and a GPU stage's
failure never are.

| fault                                   | who retries                      | rule       |
|-----------------------------------------|----------------------------------|------------|
| one download: reset, timeout, 429/5xx   | the fetch itself (intake.fetch)  | `DOWNLOAD` |
| a stage task's storage I/O (S3, mirror) | the task runner (tasks.common)   | `STAGE_IO` |

A download that keeps failing becomes a 422 (`unreachable`): the user's URL is the likelier culprit, and a task retry
of a 422 would only repeat the wait. A stage task retried after a storage fault reuses every stage it finished.
"""

from __future__ import annotations

from dataclasses import dataclass

from ltxcore.errors import RequestRejected


@dataclass(frozen=True)
class RetryRule:
    attempts: int  # tries in all, the first included
    delays_s: tuple[float, ...]  # the pause before the 2nd, 3rd, ... try (the last one repeats)
    jitter: float = 0.0  # each pause varies by up to this fraction, so failed peers do not retry in step

    def delay_s(self, retry: int) -> float:
        """The pause before retry number `retry` (0: the second try)."""
        return self.delays_s[min(retry, len(self.delays_s) - 1)]


DOWNLOAD = RetryRule(attempts=3, delays_s=(0.5, 1.0))
STAGE_IO = RetryRule(attempts=4, delays_s=(2.0, 10.0, 30.0), jitter=0.3)

# Faults worth another try: the network, storage, a peer that went away. A missing file or a refused permission is
# not going to change, and a user's mistake never is.
_TRANSIENT: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, OSError)
_FINAL: tuple[type[BaseException], ...] = (RequestRejected, FileNotFoundError, PermissionError, IsADirectoryError)


def is_transient(exc: BaseException | None) -> bool:
    return isinstance(exc, _TRANSIENT) and not isinstance(exc, _FINAL)
