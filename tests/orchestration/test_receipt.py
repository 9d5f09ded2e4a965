"""The receipt: one task run measured (time, CPU, memory, bytes), stages summed, and the receipt of a whole tiny job
through Prefect, then of its resubmission, where every stage is Cached and used nothing."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ltxcore.job.receipt import Meter, StageUsage, receipt
from ltxcore.job.request import parse_request
from ltxcore.job.settings import JobSettings
from ltxcore.media.synth import make_demo_archive

MIB = 2**20


def test_meter_measures_time_cpu_peak_memory_and_the_bytes_a_run_reads_and_writes(tmp_path: Path):
    source = tmp_path / "in.bin"
    source.write_bytes(b"\1" * (2 * MIB))
    old = tmp_path / "old.bin"
    old.write_bytes(b"\2" * MIB)
    os.utime(old, (time.time() - 3600, time.time() - 3600))  # named by the result, but not written by this run
    with Meter({"input": str(source)}, tmp_path) as meter:
        block = bytearray(300 * MIB)  # resident: written through
        block[::4096] = b"\3" * len(block[::4096])
        spin = time.process_time() + 0.4
        while time.process_time() < spin:
            pass
        out = tmp_path / "out.bin"
        out.write_bytes(b"\4" * (3 * MIB))
        del block
    # the input handed on unchanged (as probe does with its clips) and the old file were not written by this run
    usage = meter.usage({"files": [str(out), str(old), str(source)]}, stage="s", task_run="t")
    assert (usage.bytes_read, usage.bytes_written) == (2 * MIB, 3 * MIB)
    assert usage.cpu_s >= 0.4 and usage.wall_s >= 0.4
    assert usage.peak_rss_mb >= 300 and (usage.gpu_s, usage.peak_gpu_mb, usage.cached) == (0.0, None, False)


def test_receipt_sums_a_stage_runs_and_keeps_the_highest_peak():
    runs = [
        StageUsage(
            stage="fit-clip",
            task_run="a",
            cached=False,
            started_s=1000.0,
            wall_s=1.5,
            cpu_s=2.0,
            peak_rss_mb=100,
            bytes_read=10,
            bytes_written=20,
        ),
        StageUsage(stage="fit-clip", task_run="b", cached=True),
        StageUsage(
            stage="train-lora",
            task_run="c",
            cached=False,
            started_s=1002.0,
            wall_s=7.2,
            cpu_s=6.0,
            gpu_s=7.2,
            peak_rss_mb=900,
            peak_gpu_mb=4000.0,
            bytes_read=5,
            bytes_written=7,
        ),
    ]
    got = receipt(runs)
    fit, train = got.stages
    assert (fit.stage, fit.runs, fit.cached, fit.elapsed_s, fit.task_s, fit.peak_rss_mb, fit.peak_gpu_mb) == (
        "fit-clip",
        2,
        1,
        1.5,
        1.5,
        100,
        None,
    )
    assert (train.gpu_s, train.peak_gpu_mb) == (7.2, 4000.0)
    # the job: fit ran 1000-1001.5, training 1002-1009.2; the gap between them is no stage's time
    assert (got.elapsed_s, got.task_s, got.cpu_s, got.gpu_hours) == (8.7, 8.7, 8.0, pytest.approx(7.2 / 3600))
    assert "| train-lora | 1 | 0 | 7.20 | 7.20 | 6.00 | 7.20 | 900 | 4000 |" in got.markdown()


def test_a_mapped_stage_reports_its_elapsed_time_apart_from_its_runs_summed():
    # four runs of 10 s two at a time (0-10, 0-10, 10-20, 12-22), and a Cached one: 22 s elapsed, 40 s of task time
    starts = [0.0, 0.0, 10.0, 12.0]
    runs = [
        StageUsage(stage="fit-clip", task_run=str(i), cached=False, started_s=t, wall_s=10.0)
        for i, t in enumerate(starts)
    ]
    runs.append(StageUsage(stage="fit-clip", task_run="c", cached=True))
    got = receipt(runs)
    (fit,) = got.stages
    assert (fit.runs, fit.cached, fit.elapsed_s, fit.task_s) == (5, 1, 22.0, 40.0)
    assert (got.elapsed_s, got.task_s) == (22.0, 40.0)
    assert "| fit-clip | 5 | 1 | 22.00 | 40.00 |" in got.markdown()


@pytest.fixture()
def job_env(tmp_path: Path, tiny_deployment: Callable) -> Iterator[JobSettings]:
    with tiny_deployment(tmp_path, bucket_override=(32, 32), trainer={"validate_every": 50}) as settings:
        yield settings


@pytest.mark.usefixtures("prefect_api")
def test_the_receipt_of_a_tiny_job_and_of_its_cached_resubmission(tmp_path: Path, job_env: JobSettings):
    from flows.extend_suffix import extend_suffix

    archive, _ = make_demo_archive(tmp_path / "data", clips=3, seconds=1.0, size=(64, 64), audio=False)
    request = parse_request(
        {
            "training_data_url": str(archive),
            "number_of_steps": 100,
            "number_of_frames": 9,
            "rank": 8,
            "split_input_into_scenes": False,
        }
    )
    first = extend_suffix(request)
    assert first.billable_units == 100  # the contract's rule, whatever the receipt says
    lines = {s.stage: s for s in first.receipt.stages}
    assert list(lines) == [
        "check-validation-clips",
        "fetch-archive",
        "extract-archive",
        "probe-clips",
        "fit-clip",
        "build-dataset",
        "encode-dataset",
        "train-lora",
    ]
    assert all(s.cached == 0 for s in lines.values())
    # every stage that did work took time; with no validation clips their check has nothing to do (under 0.5 ms)
    assert all(0 < s.elapsed_s <= s.task_s for s in lines.values() if s.stage != "check-validation-clips")
    assert first.receipt.elapsed_s <= first.receipt.task_s
    extracted = sum(p.stat().st_size for p in (Path(job_env.work_root) / "extract").rglob("*.mp4"))
    assert lines["fit-clip"].runs == 3 and lines["fit-clip"].bytes_read == extracted  # the three source clips
    assert lines["fit-clip"].bytes_written > 0 and lines["encode-dataset"].bytes_written > 0
    assert lines["probe-clips"].bytes_written == 0 and lines["build-dataset"].bytes_written == 0  # clips handed on
    assert lines["fetch-archive"].bytes_written == archive.stat().st_size  # the local archive, copied in
    assert lines["train-lora"].cpu_s > 1.0 and lines["train-lora"].bytes_written > 0
    assert first.receipt.gpu_hours == 0.0 and all(s.gpu_s == 0 for s in lines.values())  # a CPU run holds no GPU

    again = extend_suffix(request)
    assert again.lora_file == first.lora_file and again.billable_units == 100
    cached = {s.stage: s for s in again.receipt.stages}
    assert cached.keys() == lines.keys()
    assert all(s.cached == s.runs and s.elapsed_s == s.task_s == 0 and s.bytes_written == 0 for s in cached.values())
