"""Micro-batch prefetch: the next micro-batch is read from the latent cache, collated, noised and (on CUDA) pinned on
one background thread while the device runs the current one, so the GPU never waits on disk or on the CPU-side noise.

A micro-batch's inputs are a pure function of its index (clips, sigmas and noise all come from generators seeded by
it), so preparing it early, on another thread, changes no number; the tests compare a run with and without prefetch.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")


class Prefetcher(Generic[T]):
    """`get(m, following)` returns `prepare(m)` and starts `prepare(following)` in the background.

    A request for a micro-batch that was not the one prefetched (a resumed run's first step) is prepared on the spot;
    the stale one is dropped. `enabled=False` prepares everything on the caller's thread.
    """

    def __init__(self, prepare: Callable[[int], T], *, enabled: bool = True) -> None:
        self._prepare = prepare
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="prefetch") if enabled else None
        self._pending: tuple[int, Future[T]] | None = None
        self.hits = 0  # micro-batches that were ready (or under way) when asked for
        self.misses = 0

    def get(self, micro: int, following: int | None) -> T:
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] == micro:
            self.hits += 1
            value = pending[1].result()  # re-raises what the background preparation raised
        else:
            if pending is not None:
                pending[1].cancel()
            self.misses += 1
            value = self._prepare(micro)
        if following is not None and self._pool is not None:
            self._pending = (following, self._pool.submit(self._prepare, following))
        return value

    def close(self) -> None:
        self._pending = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
