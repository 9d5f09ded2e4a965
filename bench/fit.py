"""Fitting throughput and peak memory on synthesised 1080p clips: `fit_clip` against a decode-everything baseline.

Run by hand:  .venv/bin/python bench/fit.py [--clips 2] [--seconds 7.5] [--cores 1]

Both sides produce the same thing: 89-frame windows at 24 fps, 768x768 (fill + centre crop), H.264 mp4 (same x264
settings), aligned to each clip's end. The baseline is what one would write without ffmpeg filters: PyAV decodes
every frame to RGB, Python picks frames for the rate conversion, cv2 resizes and crops, PyAV encodes. Each
measurement runs in a fresh process pinned to `--cores` CPUs (taskset), so "per core" is literal and peak RSS
belongs to that run alone
(for `fit_clip`, the ffmpeg child's peak is reported, as that is where the frames live).

What bounds it: both sides decode every 1080p H.264 frame with the same libavcodec decoder and encode with the same
x264 settings; on one core, decoding 225 frames of 1080p alone takes ~1.6 s of the ~2.6 s `fit_clip` needs per
clip. What `fit_clip` saves is the RGB conversion of every frame, the Python loop and the copies, and it scales
the kept frames only (the rate conversion drops frames before scaling).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ltxcore.intake.fit import FitSettings, fit_clip, plan_windows  # noqa: E402
from ltxcore.manifests import SourceClip  # noqa: E402
from ltxcore.media import ffmpeg_bin  # noqa: E402
from ltxcore.media.ffmpeg_bin import X264  # noqa: E402
from ltxcore.media.probe import probe  # noqa: E402

SETTINGS = FitSettings(num_frames=89, fps=24, width=768, height=768, max_windows=4)


def make_clip(path: Path, seconds: float, fps: int = 30) -> Path:
    """1080p test card with motion, like a phone clip in size and rate."""
    subprocess.run(
        [
            ffmpeg_bin.ffmpeg(),
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=s=1920x1080:r={fps}:d={seconds}",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "20",
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
        timeout=600,
    )
    return path


def run_ours(paths: list[Path], out: Path) -> dict:
    frames = 0
    for i, p in enumerate(paths):
        clip = SourceClip(id=f"c{i}", path=str(p), rel_path=p.name, probe=probe(p))
        result = fit_clip(clip, SETTINGS, out / f"c{i}")
        assert isinstance(result, list), result
        frames += sum(c.num_frames for c in result)
    child_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"frames": frames, "peak_rss_mib": child_kib / 1024}


def run_baseline(paths: list[Path], out: Path) -> dict:
    import av
    import cv2
    import numpy as np

    w, h, n, fps = SETTINGS.width, SETTINGS.height, SETTINGS.num_frames, SETTINGS.fps
    frames = 0
    for i, p in enumerate(paths):
        clip = SourceClip(id=f"c{i}", path=str(p), rel_path=p.name, probe=probe(p))
        plan = plan_windows(clip, SETTINGS)
        assert isinstance(plan, list)
        # Output frame k of window j shows the source frame nearest to its time (the fps filter's rule).
        wanted = {
            round((win.start + k / fps) * clip.probe.fps): (j, k)  # type: ignore[union-attr]
            for j, win in enumerate(plan)
            for k in range(n)
        }
        outs = [av.open(str(out / f"base-c{i}-{j}.mp4"), "w") for j in range(len(plan))]
        streams = []
        for o in outs:
            # The same encoder settings as fit_clip, so the comparison is about everything else.
            s = o.add_stream("libx264", rate=round(fps), options={"preset": X264[3], "crf": X264[5]})
            s.width, s.height, s.pix_fmt = w, h, "yuv420p"
            streams.append(s)
        with av.open(str(p)) as src:
            for idx, frame in enumerate(src.decode(video=0)):  # every frame is decoded and converted
                rgb = frame.to_ndarray(format="rgb24")  # (H, W, 3)
                if idx not in wanted:
                    continue
                scale = max(w / rgb.shape[1], h / rgb.shape[0])
                big = cv2.resize(
                    rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)), interpolation=cv2.INTER_AREA
                )
                y0, x0 = (big.shape[0] - h) // 2, (big.shape[1] - w) // 2
                crop = np.ascontiguousarray(big[y0 : y0 + h, x0 : x0 + w])  # (h, w, 3)
                j, _ = wanted[idx]
                for packet in streams[j].encode(av.VideoFrame.from_ndarray(crop, format="rgb24")):
                    outs[j].mux(packet)
                frames += 1
        for o, s in zip(outs, streams, strict=True):
            for packet in s.encode():
                o.mux(packet)
            o.close()
    return {"frames": frames, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure(mode: str, paths: list[Path]) -> None:
    """Child process: run one mode and print its numbers as JSON."""
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        stats = (run_ours if mode == "ours" else run_baseline)(paths, Path(out))
        stats["seconds"] = time.perf_counter() - t
    print(json.dumps(stats))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=7.5, help="per clip; 7.5 s at 30 fps holds two windows")
    ap.add_argument("--cores", type=int, default=1)
    ap.add_argument("--measure", choices=["ours", "baseline"], help=argparse.SUPPRESS)
    ap.add_argument("paths", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        measure(args.measure, args.paths)
        return
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0))[: args.cores])
    with tempfile.TemporaryDirectory() as d:
        paths = [make_clip(Path(d) / f"in{i}.mp4", args.seconds) for i in range(args.clips)]
        source_frames = sum(probe(p).num_frames for p in paths)
        rows = []
        for mode in ("ours", "baseline"):
            cmd = ["taskset", "-c", cpus, sys.executable, __file__, "--measure", mode, *map(str, paths)]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
            if done.returncode != 0:
                sys.exit(f"{mode} failed:\n{done.stderr}")
            rows.append((mode, json.loads(done.stdout)))
    print(
        f"{args.clips} clips x {args.seconds} s 1920x1080 @30 -> windows of {SETTINGS.num_frames} frames "
        f"@{SETTINGS.fps:g} {SETTINGS.width}x{SETTINGS.height}; {source_frames} source frames; cores: {cpus}"
    )
    print(f"{'mode':<10}{'out frames':>11}{'seconds':>9}{'out fps':>9}{'src fps':>9}{'per core':>10}{'peak MiB':>10}")
    for mode, r in rows:
        fps_out = r["frames"] / r["seconds"]
        print(
            f"{mode:<10}{r['frames']:>11}{r['seconds']:>9.2f}{fps_out:>9.1f}{source_frames / r['seconds']:>9.1f}"
            f"{fps_out / args.cores:>10.1f}{r['peak_rss_mib']:>10.0f}"
        )
    ours, base = rows[0][1], rows[1][1]
    print(f"speed-up: {(ours['frames'] / ours['seconds']) / (base['frames'] / base['seconds']):.1f}x")


if __name__ == "__main__":
    main()
