"""Start-up of each CLI verb as a user meets it (run by hand): wall time and peak memory of one process, and
whether it left anything in TMPDIR.

    .venv/bin/python bench/startup.py [--repeat 5] [--requests 50] [--all-verbs]

Each verb runs as `extend-suffix VERB ...` in a fresh process, the way a shell or a user's pipeline starts it:
`--help`, `run --help`, `check` on a valid and on a rejected request (`--all-verbs`: every verb's `--help` too).
`--requests N` also times a script that checks N requests one process each (what a pipeline looping over requests
does). Prints JSON; medians over `--repeat` runs. Results belong in notes, not in assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).with_name("extend-suffix")
VERBS = ("check", "prepare", "model-info", "extend", "run", "demo", "serve", "submit", "api", "outputs")
GOOD = {"training_data_url": "https://example.com/clips.zip", "trigger_phrase": "sks", "number_of_steps": 100}
BAD = {**GOOD, "number_of_steps": -3}


def timed(args: list[str], tmp: Path) -> tuple[float, float, int, list[str], float]:
    """(seconds, peak RSS MiB, exit code, names left in TMPDIR, CPU seconds) of one `extend-suffix` process. The CPU
    seconds are what a busy machine cannot inflate (other processes' turns on the cores count in the wall time)."""
    scratch = tmp / "tmpdir"
    scratch.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(scratch)}
    start = time.perf_counter()
    pid = os.posix_spawn(str(CLI), [str(CLI), *args], env, file_actions=_quiet())
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    left = sorted(p.name for p in scratch.iterdir())
    shutil.rmtree(scratch)  # the next run starts from an empty TMPDIR
    cpu = usage.ru_utime + usage.ru_stime
    return seconds, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), left, cpu


def _quiet() -> list[tuple]:
    return [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0), (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)]


def median_of(args: list[str], tmp: Path, repeat: int) -> dict:
    runs = [timed(args, tmp) for _ in range(repeat)]
    return {
        "command": "extend-suffix " + " ".join(args),
        "median_s": round(statistics.median(r[0] for r in runs), 3),
        "median_cpu_s": round(statistics.median(r[4] for r in runs), 3),
        "peak_rss_mb": round(max(r[1] for r in runs), 1),
        "exit_code": runs[0][2],
        "left_in_tmpdir": runs[-1][3],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--requests", type=int, default=0, help="Also time a script checking N requests.")
    parser.add_argument("--all-verbs", action="store_true", help="Every verb's --help, not only run's.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        (tmp / "good.json").write_text(json.dumps(GOOD))
        (tmp / "bad.json").write_text(json.dumps(BAD))
        cases = [["--help"], *([verb, "--help"] for verb in (VERBS if args.all_verbs else ("run",)))]
        cases += [["check", str(tmp / "good.json")], ["check", str(tmp / "bad.json")]]
        out: dict = {"python": sys.version.split()[0], "cores": len(os.sched_getaffinity(0))}
        out["load_average"] = os.getloadavg()[0]  # other work on the machine stretches every wall time
        out["verbs"] = [median_of(case, tmp, args.repeat) for case in cases]
        if args.requests:
            start = time.perf_counter()
            codes = [
                timed(["check", str(tmp / ("bad.json" if i % 2 else "good.json"))], tmp)[2]
                for i in range(args.requests)
            ]
            out["check_script"] = {
                "requests": args.requests,
                "total_s": round(time.perf_counter() - start, 2),
                "per_request_s": round((time.perf_counter() - start) / args.requests, 3),
                "exit_codes": sorted(set(codes)),
            }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
