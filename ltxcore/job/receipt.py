"""The receipt of a job: what each stage used, so a user sees where the time (and the GPU) went.

Per stage: elapsed time and summed task time, CPU and GPU seconds, peak memory, bytes read and written, and how many
runs were `Cached`; plus the job's total GPU-hours. Definitions (each a plain measurement of one task run):
- elapsed_s: seconds of the clock during which at least one of the stage's runs was working: the runs of a mapped
  stage run at once, so this is how long a user waited for the stage (0 when every run was Cached);
- task_s: the runs' own durations added up; for a mapped stage it exceeds elapsed_s by about the number of runs at
  once (it is what the work would take one run at a time, not how long it took);
- cpu_s: CPU seconds of this process (every thread) and of the child processes (ffmpeg) that finished meanwhile,
  summed over the runs; like task_s, overlapping runs each count the process's CPU while they run;
- gpu_s: the duration of each run that allocated CUDA memory (a GPU is held, and paid for, while the stage runs);
- peak_rss_mb: the highest resident memory of the process sampled during the runs; peak_gpu_mb: torch's peak CUDA
  allocation;
- bytes_read / bytes_written: sizes of the files the stage's inputs name, and of the files its result names that it
  wrote (under the work root; a fetched archive counts as written).
`billable_units` is the contract's and does not depend on the receipt.
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ltxcore.store.atomic import atomic_write_text

_FROZEN = ConfigDict(frozen=True, extra="forbid")
MIB = 2**20
_MTIME_SLACK_NS = 20_000_000  # file times come from the kernel's coarse clock, a tick (up to 10 ms) behind


class StageUsage(BaseModel):
    """One task run's measurement."""

    model_config = _FROZEN

    stage: str
    task_run: str
    cached: bool
    started_s: float | None = Field(default=None, description="Unix time the body started (None: Cached).")
    wall_s: float = Field(default=0.0, description="How long the body ran.")
    cpu_s: float = 0.0
    gpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    peak_gpu_mb: float | None = None
    bytes_read: int = 0
    bytes_written: int = 0


class StageLine(BaseModel):
    """One stage on the receipt: its task runs summed (peaks: the highest)."""

    model_config = _FROZEN

    stage: str
    runs: int
    cached: int = Field(description="Of `runs`, how many were Cached.")
    elapsed_s: float = Field(description="Seconds during which at least one run of the stage was working.")
    task_s: float = Field(description="The runs' durations added up (exceeds elapsed_s when runs overlapped).")
    cpu_s: float
    gpu_s: float
    peak_rss_mb: float
    peak_gpu_mb: float | None
    bytes_read: int
    bytes_written: int


class Receipt(BaseModel):
    model_config = _FROZEN

    stages: list[StageLine]
    elapsed_s: float = Field(description="Seconds during which at least one stage was working (overlaps once).")
    task_s: float = Field(description="Every run's duration added up.")
    cpu_s: float
    gpu_hours: float

    def markdown(self) -> str:
        lines = [
            f"**Receipt**: {self.elapsed_s:.1f} s elapsed in stages ({self.task_s:.1f} s of task time summed over "
            f"runs that overlap), {self.cpu_s:.1f} CPU s, {self.gpu_hours:.4f} GPU-hours",
            "",
            "| stage | runs | cached | elapsed s | summed task s | CPU s | GPU s | peak RSS MiB | peak GPU MiB "
            "| read MiB | written MiB |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for s in self.stages:
            gpu = "" if s.peak_gpu_mb is None else f"{s.peak_gpu_mb:.0f}"
            lines.append(
                f"| {s.stage} | {s.runs} | {s.cached} | {s.elapsed_s:.2f} | {s.task_s:.2f} | {s.cpu_s:.2f} | "
                f"{s.gpu_s:.2f} | {s.peak_rss_mb:.0f} | {gpu} | "
                f"{s.bytes_read / MIB:.2f} | {s.bytes_written / MIB:.2f} |"
            )
        return "\n".join(lines) + "\n"


def receipt(usages: list[StageUsage]) -> Receipt:
    """Sum the task runs by stage, in the order the stages first finished."""
    order = list(dict.fromkeys(u.stage for u in usages))
    lines = []
    for stage in order:
        runs = [u for u in usages if u.stage == stage]
        gpu_peaks = [u.peak_gpu_mb for u in runs if u.peak_gpu_mb is not None]
        lines.append(
            StageLine(
                stage=stage,
                runs=len(runs),
                cached=sum(u.cached for u in runs),
                elapsed_s=round(elapsed(runs), 3),
                task_s=round(sum(u.wall_s for u in runs), 3),
                cpu_s=round(sum(u.cpu_s for u in runs), 3),
                gpu_s=round(sum(u.gpu_s for u in runs), 3),
                peak_rss_mb=max(u.peak_rss_mb for u in runs),
                peak_gpu_mb=max(gpu_peaks) if gpu_peaks else None,
                bytes_read=sum(u.bytes_read for u in runs),
                bytes_written=sum(u.bytes_written for u in runs),
            )
        )
    return Receipt(
        stages=lines,
        elapsed_s=round(elapsed(usages), 3),
        task_s=round(sum(s.task_s for s in lines), 3),
        cpu_s=round(sum(s.cpu_s for s in lines), 3),
        gpu_hours=sum(s.gpu_s for s in lines) / 3600,
    )


def elapsed(usages: list[StageUsage]) -> float:
    """Seconds covered by the union of the runs' [start, start + wall] intervals (Cached runs cover none)."""
    spans = sorted((u.started_s, u.started_s + u.wall_s) for u in usages if u.started_s is not None and u.wall_s > 0)
    total, end = 0.0, float("-inf")
    for start, stop in spans:
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total


# --- measuring one run -----------------------------------------------------------------------------------------


def _cpu_seconds() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _rss_mb() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * resource.getpagesize() / MIB
    except OSError:  # not Linux: the lifetime peak is the best there is
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss / MIB if sys.platform == "darwin" else rss / 1024


def _cuda():
    """torch.cuda when this process already uses CUDA; None otherwise (never imports torch or starts CUDA)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return torch.cuda


def _files(value: Any, root: Path) -> dict[Path, tuple[int, int]]:
    """Every file under `root` that `value` names -> (mtime_ns, size)."""
    from ltxcore.store.mirror import paths_in  # fsspec: not for the request model, which names Receipt

    found = {}
    for path in set(paths_in(value, root)):
        if path.is_file():
            st = path.stat()
            found[path] = (st.st_mtime_ns, st.st_size)
    return found


class Meter:
    """Measures one task run: `with Meter(inputs, root) as m: result = ...` then `m.usage(result, ...)`."""

    def __init__(self, inputs: Any, root: Path, sample_every_s: float = 0.05):
        self.inputs, self.root, self.every = inputs, root, sample_every_s
        self.peak_rss = 0.0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.wait(self.every):
            self.peak_rss = max(self.peak_rss, _rss_mb())

    def __enter__(self) -> Meter:
        self.before = _files(self.inputs, self.root)
        self.bytes_read = sum(size for _, size in self.before.values())
        cuda = _cuda()
        if cuda is not None:
            cuda.reset_peak_memory_stats()
        self.peak_rss = _rss_mb()
        self._sampler = threading.Thread(target=self._sample, name="receipt-rss", daemon=True)
        self._sampler.start()
        self.started_s = time.time()
        self.started_ns = time.time_ns() - _MTIME_SLACK_NS
        self._t0, self._cpu0 = time.perf_counter(), _cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._t0
        self.cpu = _cpu_seconds() - self._cpu0
        self._stop.set()
        self._sampler.join()
        self.peak_rss = max(self.peak_rss, _rss_mb())
        cuda = _cuda()  # CUDA may have started during the run (the first model stage)
        self.peak_gpu = cuda.max_memory_allocated() / MIB if cuda is not None else None

    def usage(self, result: Any, *, stage: str, task_run: str) -> StageUsage:
        used_gpu = bool(self.peak_gpu)
        return StageUsage(
            stage=stage,
            task_run=task_run,
            cached=False,
            started_s=self.started_s,
            wall_s=round(self.wall, 4),
            cpu_s=round(self.cpu, 4),
            gpu_s=round(self.wall, 4) if used_gpu else 0.0,
            peak_rss_mb=round(self.peak_rss, 1),
            peak_gpu_mb=round(self.peak_gpu, 1) if self.peak_gpu is not None else None,
            bytes_read=self.bytes_read,
            bytes_written=self._written(result),
        )

    def _written(self, result: Any) -> int:
        """Bytes of the files the result names that this run wrote: modified since it started, and not an input
        passed through unchanged (probe and split hand their input clips on)."""
        return sum(
            size
            for path, (mtime, size) in _files(result, self.root).items()
            if mtime >= self.started_ns and self.before.get(path) != (mtime, size)
        )


# --- where a job's measurements wait for the receipt ------------------------------------------------------------


def usage_dir(work_root: str, job_id: str) -> Path:
    return Path(work_root) / "receipts" / job_id


def write_usage(directory: Path, usage: StageUsage) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(directory / f"{usage.task_run}.json", usage.model_dump_json())


def read_usages(directory: Path) -> list[StageUsage]:
    """Every measurement written for one job, in the order they were written."""
    files = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime_ns) if directory.is_dir() else []
    return [StageUsage.model_validate(json.loads(p.read_text())) for p in files]
