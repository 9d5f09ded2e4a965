"""`bench/gpu_probe.py --smoke` runs on the CPU, so the probe a lent GPU will run cannot rot unnoticed.

One variant per code path (the switches off, every switch on with compile and K=auto and audio, the sampling step,
the dropped audio adapters, the int8 base), torch.compile with the capture-only "eager" backend to keep it short.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = [
    "audio: as built",
    "audio: + all, compile, K=auto",
    "sampling step cfg+stg+mod (audio)",
    "+ no audio adapters",
    "K=8",
    "int8 base, K=all",
]


def test_gpu_probe_smoke_runs_every_code_path_and_writes_its_table(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            "bench/gpu_probe.py",
            "--smoke",
            "--compile-backend",
            "eager",
            "--out",
            str(tmp_path),
            "--only",
            *VARIANTS,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_probe-smoke.json").read_text())
    assert (report["smoke"], report["heads"], report["layers"], report["device"]) == (True, 1, 2, "cpu")
    rows = {r["variant"]: r for r in report["rows"]}
    assert list(rows) == VARIANTS and not [r for r in rows.values() if "error" in r]
    for r in rows.values():
        assert r["s_per_step"] > 0 and len(r["top_kernels"]) == 3 and r["top_kernels"][0]["name"].startswith("aten::")
        assert r["peak_rss_mb"] > 100
    assert [rows[v]["checkpointed_blocks"] for v in VARIANTS] == [2, 2, 2, 2, 2, 2]  # K=8 and auto capped at 2 blocks
    assert rows["audio: + all, compile, K=auto"]["compiled"] and not rows["audio: as built"]["compiled"]
    assert rows["int8 base, K=all"]["int8"] and rows["+ no audio adapters"]["drop_audio_adapters"]
    flops = report["flops"]
    assert flops["audio"]["train_step"] > flops["video"]["train_step"] > 0
    assert rows["audio: as built"]["step_tflop"] == round(flops["audio"]["train_step"] / 1e12, 2)
    table = (tmp_path / "gpu_probe-smoke.md").read_text().splitlines()
    assert table[0].startswith("# GPU probe") and sum(line.startswith("| ") for line in table) == 1 + len(VARIANTS)
