"""A whole job as a user runs it (run by hand): its wall time, what it costs beyond its stages, and how honest the
training ETA was.

    .venv/bin/python bench/job.py [--steps 100]

Runs `extend-suffix demo` (the tiny preset, six synthetic clips, validation previews and the reel) in a fresh process
and reads its stderr as it comes, each line stamped on arrival:
- fixed overhead: the process's wall time minus the stages' elapsed time from the receipt (the result's last line):
  imports, Prefect's embedded server, flow and task bookkeeping, artifacts;
- the ETA: every progress line's `ETA Ns` (the log and the terminal bar), against the time that line still had to wait
  until the validation reel was rendered, the last thing the ETA counts. Reported as the median and worst relative
  error over the samples after the first preview (before it, a preview's cost is unknown and the ETA says `>=`).
Prints JSON. Results belong in notes, not in assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = Path(sys.executable).with_name("extend-suffix")
SAMPLE = re.compile(rb"(\d+)/(\d+) .*?ETA (>=)?(\d+)s")
REEL_DONE = re.compile(rb"render-validation.*Finished in state")
# Where the time outside the stages goes: the first lines of the demo, of the flow run and of its first task
MARKS = {
    "dataset_synthesised": re.compile(rb"==> request:"),
    "flow_run_started": re.compile(rb"Beginning flow run"),
    "first_task_started": re.compile(rb"Task run .* - "),
    "reel_done": REEL_DONE,
    "flow_run_finished": re.compile(rb"Finished in state Completed"),
}


def run_demo(steps: int, work: Path) -> tuple[float, float, list[tuple[float, bytes]], str]:
    """(wall seconds, peak RSS MiB of the largest process, stamped stderr pieces, stdout) of one demo run."""
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "COLUMNS": "200"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(CLI), "demo", "--work-dir", str(work), "--steps", str(steps)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stderr is not None and proc.stdout is not None
    pieces: list[tuple[float, bytes]] = []
    buffer = b""
    while chunk := os.read(proc.stderr.fileno(), 65536):
        now = time.perf_counter() - start
        buffer += chunk
        *done, buffer = re.split(rb"[\r\n]", buffer)  # tqdm redraws with \r, logs end with \n
        pieces += [(now, piece) for piece in done if piece.strip()]
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(b"\n".join(p for _, p in pieces[-30:]).decode(errors="replace"))
    return wall, usage.ru_maxrss / 1024, pieces, out


def eta_errors(pieces: list[tuple[float, bytes]], steps: int) -> dict:
    reel = [t for t, p in pieces if REEL_DONE.search(p)]
    if not reel:
        return {"error": "no render-validation line found"}
    end = reel[0]
    samples = []
    for t, piece in pieces:
        if (m := SAMPLE.search(piece)) and int(m.group(2)) == steps and t < end:
            samples.append((int(m.group(1)), m.group(3) is not None, int(m.group(4)), end - t))
    firm = [(step, eta, truth) for step, lower, eta, truth in samples if not lower and truth > 1]
    errors = [abs(eta - truth) / truth for _, eta, truth in firm]
    by_quarter = {}
    for quarter in (25, 50, 75, 90):
        near = min(firm, key=lambda s: abs(s[0] - steps * quarter / 100), default=None)
        if near is not None:
            by_quarter[f"step_{near[0]}"] = {"eta_s": near[1], "truth_s": round(near[2], 1)}
    return {
        "samples": len(samples),
        "lower_bound_samples": sum(1 for s in samples if s[1]),
        "median_rel_error": round(statistics.median(errors), 3) if errors else None,
        "worst_rel_error": round(max(errors), 3) if errors else None,
        "within_20pct": round(sum(e <= 0.2 for e in errors) / len(errors), 3) if errors else None,
        "at": by_quarter,
    }


def marks(pieces: list[tuple[float, bytes]]) -> dict[str, float]:
    """Seconds from the start to the first line of each mark (the flow's own 'Finished' is its last such line)."""
    found: dict[str, float] = {}
    for name, pattern in MARKS.items():
        times = [t for t, p in pieces if pattern.search(p)]
        if times:
            found[name] = round(times[-1] if name == "flow_run_finished" else times[0], 2)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        wall, rss, pieces, out = run_demo(args.steps, Path(d) / "demo")
    result = json.loads(out.strip().splitlines()[-1])
    receipt = result.get("receipt") or {}
    stage_s = receipt.get("elapsed_s", receipt.get("wall_s"))  # an older receipt summed overlapping runs
    report = {
        "steps": args.steps,
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(rss, 1),
        "stages_s": stage_s,
        "fixed_overhead_s": round(wall - stage_s, 2) if stage_s is not None else None,
        "stages": {s["stage"]: s.get("elapsed_s", s.get("wall_s")) for s in receipt.get("stages", [])},
        "marks_s": marks(pieces),
        "eta": eta_errors(pieces, args.steps),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
