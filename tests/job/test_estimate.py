"""Pre-flight estimates: memory per tier against a named GPU, time and cost, measured rows from the bench, and the
deployment's 422 when no tier fits its GPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.local import GPU_KEYS
from cli.main import app
from ltxcore.errors import RequestRejected
from ltxcore.job.estimate import GIB, GPUS, TIERS, counted_flops, estimate, model_params, peak_bytes
from ltxcore.job.plan import plan_job
from ltxcore.job.request import parse_request
from ltxcore.job.settings import JobSettings
from ltxcore.job.workload import Workload
from ltxcore.model import info

URL = "https://example.com/clips.zip"
CLIP = {"video_url": "https://example.com/a.mp4"}
runner = CliRunner()


def _request(**fields):
    return parse_request({"training_data_url": URL, **fields})


def _workload(settings: JobSettings | None = None, **fields) -> Workload:
    """The workload as the job plans it: the estimate's input is always the plan's."""
    return plan_job(_request(**fields), settings or JobSettings(device="cpu")).workload


def test_extrapolated_counts_equal_model_info_on_the_whole_model():
    # model-info's own numbers for the full 48-block model (see the README's memory section): 18.99 B parameters,
    # rank-32 LoRA 213.9 M; the 1- and 2-block extrapolation must give them exactly
    params, lora = model_params(32)
    assert (params, lora) == (18_988_838_144, 213_909_504)
    flops = counted_flops(768, 768, 89, 24.0, 32, True)
    assert flops["train_step"] == 501_054_881_005_568 and flops["forward"] == 232_054_946_398_208
    assert flops["train_step_with_checkpointing"] == flops["train_step"] + flops["forward"]


def test_default_request_fits_an_h100_with_checkpointing_and_no_tier_fits_an_rtx4090(tmp_path: Path):
    work = _workload().model_copy(update={"clips": 20})
    assert (work.video_tokens, work.audio_tokens) == (6912, 0)
    h100 = estimate(work, "h100", price_per_hour=3.0, bench_report=tmp_path / "none.json")
    peaks = {t.tier.name: t.peak_memory.value for t in h100.tiers}
    assert 145 < peaks["bf16"] < 160 and 44 < peaks["bf16 + checkpointing"] < 50  # GiB, from measured activations
    assert peaks["int8 base + 8-bit AdamW + checkpointing"] < peaks["int8 base + checkpointing"] < 30
    assert [t.fits for t in h100.tiers] == [False, True, True, True]
    assert h100.chosen == "bf16 + checkpointing"
    step = h100.tiers[1].step_time
    video_only = counted_flops(768, 768, 89, 24.0, 32, False)["train_step_with_checkpointing"]
    assert 600e12 < video_only < 733.11e12  # FLOPs; with audio it is 733.11 TFLOP
    assert step.source == "estimated" and step.value == pytest.approx(
        video_only / (0.4 * GPUS["h100"].bf16_tflops * 1e12)
    )
    assert h100.run.training.value == pytest.approx(2000 * step.value)
    assert h100.cost.value == pytest.approx(h100.run.total.value / 3600 * 3.0)
    assert all(t.peak_memory.source == "estimated" for t in h100.tiers)

    rtx = estimate(work, "rtx4090", bench_report=tmp_path / "none.json")
    assert not any(t.fits for t in rtx.tiers) and rtx.chosen is None and rtx.run is None


def test_previews_and_the_reel_add_sampling_time_per_clip_and_pass():
    settings = JobSettings(device="cpu", trainer={"preview_every": 500})
    one = _workload(settings, validation=[{"video_url": "https://example.com/a.mp4"}])
    two = _workload(settings, validation=[{"video_url": "https://example.com/a.mp4"}] * 2, with_audio=True)
    assert (one.sample_passes, two.sample_passes) == (3, 4)  # cond, CFG, STG (+ modality guidance with audio)
    a, b = estimate(one, "h200").run, estimate(two, "h200").run
    assert a.previews.value == pytest.approx(3 * a.reel.value)  # previews at 500, 1000, 1500 of 2000 steps
    forward = counted_flops(960, 960, 89, 24.0, 32, False)["forward"]
    assert a.reel.value == pytest.approx(30 * 3 * forward / (0.4 * GPUS["h200"].bf16_tflops * 1e12))
    assert b.reel.value > 2 * 4 / 3 * a.reel.value * 0.99  # two clips, four passes, audio tokens on top


def test_a_measured_bench_row_replaces_the_estimate_on_that_gpu_only(tmp_path: Path):
    cfg = info.PRESETS["ltx-2.3"]
    row = {
        "preset": "ltx-2.3",
        "heads": cfg["num_attention_heads"],
        "layers": cfg["num_layers"],
        "bucket": "768x768x89",
        "audio": False,
        "grad_ckpt": True,
        "rank": 32,
        "optimizer": "adamw",
        "base": "none",
        "device": "cuda",
        "s_per_step": 2.5,
        "peak_cuda_mb": 40960.0,
    }
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"meta": {"machine": "x86_64, NVIDIA H100 80GB HBM3"}, "full_size": [row]}))
    work = _workload()
    tier = estimate(work, "h100", bench_report=report).tiers[1]
    assert (tier.step_time.value, tier.step_time.source) == (2.5, "measured")
    assert (tier.peak_memory.value, tier.peak_memory.source) == (40.0, "measured")
    assert estimate(work, "h100", bench_report=report).tiers[0].step_time.source == "estimated"  # other tier
    assert estimate(work, "h100-pcie", bench_report=report).tiers[1].step_time.source == "estimated"  # other GPU


def test_deployment_gpu_too_small_is_a_422_naming_the_field_to_lower(tmp_path: Path):
    small = JobSettings(gpu="rtx4090", allow_local_inputs=True, work_root=str(tmp_path))
    with pytest.raises(RequestRejected) as exc:
        plan_job(_request(), small)
    (detail,) = exc.value.details
    assert detail.loc == ("body", "number_of_frames") and detail.type == "gpu_memory"
    assert "27.9 GiB" in detail.msg and "22.8 GiB usable" in detail.msg
    assert detail.msg.endswith("lower number_of_frames to 17 or fewer")
    work = _workload(small, number_of_frames=17)
    assert peak_bytes(work, TIERS[-1]) / GIB < 22.8
    plan_job(_request(number_of_frames=17), small)  # the suggested change fits: no error
    plan_job(_request(), JobSettings(gpu="h100"))


def test_prepare_refuses_before_fetching_when_the_deployment_gpu_is_too_small(tmp_path: Path, monkeypatch):
    req = tmp_path / "req.json"
    req.write_text(json.dumps({"training_data_url": str(tmp_path / "missing.zip")}))
    monkeypatch.setenv("EXTEND_SUFFIX_GPU", "rtx4090")
    result = runner.invoke(app, ["prepare", str(req), "--work-dir", str(tmp_path / "w")])
    assert result.exit_code == 2, result.output
    body = json.loads(result.stdout)
    assert body["status"] == 422 and body["detail"][0]["type"] == "gpu_memory"  # not "file missing": checked first
    assert not (tmp_path / "w").exists() or not any((tmp_path / "w").iterdir())


def test_prepare_estimate_adds_the_table_for_the_named_gpu(tmp_path: Path):
    from ltxcore.media.synth import make_demo_archive

    archive, _ = make_demo_archive(tmp_path / "data", clips=4, seconds=1.5, size=(96, 96), audio=False)
    req = tmp_path / "req.json"
    req.write_text(json.dumps({"training_data_url": str(archive), "number_of_frames": 25}))
    args = ["prepare", str(req), "--work-dir", str(tmp_path / "w"), "--bucket", "64x64", "--estimate"]
    result = runner.invoke(app, [*args, "--gpu", "rtx5090", "--price-per-hour", "0.9"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    est = report["estimate"]
    assert est["gpu"]["key"] == "rtx5090" and est["video_tokens"] == 24 * 24 * 4  # 768x768x25 at the request's bucket
    assert est["chosen"] == "int8 base + checkpointing" and est["cost"]["value"] > 0  # bf16 weights: 35 GiB
    assert "pre-flight estimate for ltx-2.3 on RTX 5090" in result.stderr
    assert "advice" not in est
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"training_data_url": str(archive), "number_of_frames": 25, "rank": 128}))
    tight = runner.invoke(app, ["prepare", str(big), *args[2:], "--gpu", "rtx4090"])
    assert tight.exit_code == 0, tight.output
    advice = json.loads(tight.stdout)["estimate"]
    assert advice["chosen"] is None and advice["advice"].endswith("lower rank to 16")  # r128 adapters: ~8 GiB
    bad = runner.invoke(app, [*args, "--gpu", "tpu"])
    assert bad.exit_code == 2 and json.loads(bad.stdout)["detail"][0]["loc"] == ["--gpu"]


def test_cli_gpu_names_match_the_gpu_table():
    assert set(GPU_KEYS) == set(GPUS)


def test_the_planned_workload_counts_held_out_clips_as_the_trainer_splits_them(tmp_path: Path):
    plan = plan_job(_request(validation=[{"video_url": "https://example.com/a.mp4"}]), JobSettings())
    work = plan.workload  # planned before the dataset exists: one held-out clip assumed
    assert work.clips is None and work.holdout_clips == 1
    # the trainer's rule (ltxcore.train.data.split_holdout): a tenth, at least one once there are 4 clips; with none
    # held out the first training clip is measured, so the estimate counts one
    assert [work.model_copy(update={"clips": n}).holdout_clips for n in (3, 4, 39, 40, 120)] == [1, 1, 3, 4, 12]
    fixed = plan_job(_request(), JobSettings(trainer={"holdout_clips": 2})).workload
    assert fixed.model_copy(update={"clips": 120}).holdout_clips == 2
    small, large = (
        estimate(work.model_copy(update={"clips": n}), "h100", bench_report=tmp_path / "none.json") for n in (4, 120)
    )
    assert small.run.validation_losses.value > 0
    assert large.run.validation_losses.value == pytest.approx(12 * small.run.validation_losses.value)


def test_the_estimate_counts_the_previews_the_plan_schedules(tmp_path: Path):
    # The default request with one validation clip: the deployment's default 8 previews, one every 223 of 2000 steps.
    # The estimate reads the cadence from the plan's training config, so it cannot leave them out.
    work = _workload(validation=[CLIP])
    assert (work.steps, work.preview_every) == (2000, 223)
    none = tmp_path / "none.json"
    run = estimate(work, "h100", bench_report=none).run
    assert run.previews.value == pytest.approx(8 * run.reel.value)
    assert round(run.previews.value) == 647 and round(run.total.value / 3600, 2) == 1.13  # seconds, hours
    unpreviewed = estimate(work.model_copy(update={"preview_every": None}), "h100", bench_report=none).run
    assert unpreviewed.previews.value == 0 and round(unpreviewed.total.value / 3600, 2) == 0.95
    assert (
        _workload(JobSettings(device="cpu", previews=0), validation=work.validation_clips * [CLIP]).preview_every
        is None
    )
