"""How a job's cost grows with its data (run by hand): the whole job on 1, 8 and 96 clips, and a long source cut into
scenes.

    .venv/bin/python bench/scaling.py [--clips 1 8 96] [--long-minutes 6 --cuts 40]

Clips are synthetic (2.5-4 s, 320x240 to 1280x720, with sound), made with ffmpeg. Each job runs as
`extend-suffix run` (tiny preset, 64x64 bucket, 100 steps, no validation) in a fresh process; while it runs, the
resident memory of its whole process tree (ffmpeg children included) is sampled every 0.2 s. Per job: wall time, the
tree's peak, the fit and encode stages' elapsed and summed task times from the receipt, and the fit's elapsed time
per clip. The long source (one file with hard cuts every few seconds) goes through `extend-suffix prepare`: its wall
time against the source's duration, and the windows kept. Prints JSON. Results belong in notes, not in assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ltxcore.media import ffmpeg_bin  # noqa: E402
from ltxcore.media.synth import moving_square_clip  # noqa: E402

CLI = Path(sys.executable).with_name("extend-suffix")
SIZES = [(320, 240), (640, 360), (960, 540), (1280, 720)]
COLOURS = ["red", "yellow", "cyan", "magenta", "lime", "orange", "white", "blue"]


def make_archive(out: Path, clips: int) -> Path:
    rng = random.Random(clips)
    out.mkdir(parents=True, exist_ok=True)
    archive = out / "dataset.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(clips):
            size = SIZES[i % len(SIZES)]
            clip = moving_square_clip(
                out / f"clip_{i:03d}.mp4",
                seconds=round(rng.uniform(2.5, 4.0), 2),
                fps=24,
                size=size,
                colour=COLOURS[i % len(COLOURS)],
                tone_hz=300 + 20 * (i % 20),
                start=(size[0] / 8, size[1] / 3),
                velocity=(rng.uniform(20, 60), 0.0),
            )
            zf.write(clip, f"clips/{clip.name}")
            zf.writestr(f"clips/clip_{i:03d}.txt", f"a {COLOURS[i % len(COLOURS)]} square glides and stops")
            clip.unlink()
    return archive


def tree_rss_mb(root: int) -> float:
    """Resident memory of `root` and every descendant, from /proc."""
    parents, rss = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        kids = [p for p, parent in parents.items() if parent == pid and p not in tree]
        tree.update(kids)
        frontier += kids
    return sum(rss.get(p, 0) for p in tree) / 2**20


def run(args: list[str]) -> tuple[float, float, str]:
    """(wall s, peak tree RSS MiB, stdout) of one CLI process."""
    # a busy machine can take longer than Prefect's default 20 s to start the embedded server
    env = {
        **os.environ,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    }
    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        proc = subprocess.Popen([str(CLI), *args], stdout=subprocess.PIPE, stderr=log, env=env, text=True)
        peak = [0.0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.2):
                peak[0] = max(peak[0], tree_rss_mb(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out, _ = proc.communicate()
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        if proc.returncode:
            log.seek(0)
            tail = log.read().decode(errors="replace")[-1500:]
            raise RuntimeError(f"{args} exited {proc.returncode}:\n{tail}\n{out[-500:]}")
    return wall, peak[0], out


def job(tmp: Path, clips: int) -> dict:
    archive = make_archive(tmp / f"data{clips}", clips)
    request = {"training_data_url": str(archive), "trigger_phrase": "sks", "number_of_steps": 100}
    (tmp / f"request{clips}.json").write_text(json.dumps(request))
    wall, peak, out = run(
        ["run", str(tmp / f"request{clips}.json"), "--work-dir", str(tmp / f"work{clips}"), "--bucket", "64x64"]
    )
    receipt = json.loads(out.strip().splitlines()[-1])["receipt"]
    stages = {s["stage"]: s for s in receipt["stages"]}

    def times(name: str) -> dict:
        s = stages.get(name)
        if s is None:
            return {}
        elapsed = s.get("elapsed_s", s.get("wall_s"))  # an older receipt gave only the runs' sum, as wall_s
        return {"runs": s["runs"], "elapsed_s": elapsed, "task_s": s.get("task_s", s.get("wall_s"))} | (
            {"peak_rss_mb": s["peak_rss_mb"]}
        )

    fit = times("fit-clip")
    return {
        "clips": clips,
        "wall_s": round(wall, 1),
        "peak_tree_rss_mb": round(peak),
        "fit": fit,
        "fit_elapsed_per_clip_s": round(fit["elapsed_s"] / clips, 3) if fit.get("elapsed_s") else None,
        "encode": times("encode-dataset"),
        "split": times("split-scenes"),
    }


def long_source(tmp: Path, minutes: float, cuts: int) -> dict:
    """One source of `minutes` with `cuts` hard cuts (each segment another colour and motion), through prepare."""
    segment = minutes * 60 / (cuts + 1)
    parts = []
    for i in range(cuts + 1):
        parts.append(
            moving_square_clip(
                tmp / "long" / f"seg{i:02d}.mp4",
                seconds=segment,
                fps=24,
                size=(640, 360),
                colour=COLOURS[i % len(COLOURS)],
                tone_hz=300 + 25 * (i % 16),
                start=(40.0 * (i % 5), 30.0 * (i % 4)),
                velocity=(15.0 + 3 * (i % 7), 5.0 * (i % 3)),
            )
        )
    listing = tmp / "long" / "list.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in parts))
    source = tmp / "long" / "source.mp4"
    concat = ["-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(source)]
    subprocess.run([ffmpeg_bin.ffmpeg(), "-v", "error", *concat], check=True)
    archive = tmp / "long.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(source, "clips/source.mp4")
        zf.writestr("clips/source.txt", "squares glide across dark rooms")
    request = {"training_data_url": str(archive), "trigger_phrase": "sks", "number_of_steps": 100}
    (tmp / "long.json").write_text(json.dumps(request))
    wall, peak, out = run(["prepare", str(tmp / "long.json"), "--work-dir", str(tmp / "work-long")])
    report = json.loads(out)
    return {
        "source_s": round(minutes * 60, 1),
        "cuts": cuts,
        "wall_s": round(wall, 1),
        "realtime_factor": round(minutes * 60 / wall, 2),
        "peak_tree_rss_mb": round(peak),
        "windows_kept": report["counts"]["kept_clips"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, nargs="*", default=[1, 8, 96])
    parser.add_argument("--long-minutes", type=float, default=6.0)
    parser.add_argument("--cuts", type=int, default=40)
    args = parser.parse_args()
    out: dict = {"cores": len(os.sched_getaffinity(0))}
    with tempfile.TemporaryDirectory() as d:
        out["jobs"] = []
        for n in args.clips:
            try:
                out["jobs"].append(job(Path(d), n))
            except RuntimeError as exc:  # reported, and the other sizes still measured
                out["jobs"].append({"clips": n, "failed": str(exc)[-800:]})
        if args.long_minutes > 0:
            out["long_source"] = long_source(Path(d), args.long_minutes, args.cuts)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
