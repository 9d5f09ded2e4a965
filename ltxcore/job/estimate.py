"""Pre-flight: what a request will need on a named GPU, before any GPU time is paid for.

For the full-size LTX-2.3 transformer (whatever model the deployment loads, the estimate is for the real model at the
request's own bucket): tokens per training window, the peak GPU memory of each memory tier and whether it fits, the
step time, the whole run's time (training steps, held-out validations, previews, the final reel) and its cost at a
price per hour. FLOPs are counted on the meta device by `ltxcore.model.info`, memory comes from its memory model.

Every figure says where it comes from: `measured` when `bench/results/report.json` holds a full-size step on this
GPU at this bucket, rank, audio and tier (written by `bench/run_all --full` on a GPU), else `estimated`.
Not counted: encoding the dataset, VAE decodes of previews, model loading and Prefect's per-task overhead.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from ltxcore import geometry
from ltxcore.job.measured import BENCH_REPORT, bench_rows, measured_row
from ltxcore.job.workload import Workload
from ltxcore.model import info
from ltxcore.model.gpus import GPUS, Gpu
from ltxcore.model.lora import ATTENTION_TARGETS, attach_lora

_FROZEN = ConfigDict(frozen=True, extra="forbid")
GIB = 2**30
PRESET = "ltx-2.3"
ASSUMED_MFU = 0.40  # model FLOPs utilisation assumed without a measurement (the figure model-info quotes)
OVERHEAD_BYTES = GIB  # CUDA context, cuBLAS workspaces and allocator slack outside the step's tensors
USABLE_FRACTION = 0.95  # of the card's memory the step may plan to use (fragmentation)


class MemoryTier(BaseModel):
    """One way to train (trainer settings, never request fields), from the fastest to the leanest."""

    model_config = _FROZEN

    name: str
    gradient_checkpointing: bool
    base_quantization: Literal["none", "int8"]
    optimizer: Literal["adamw", "adamw8bit"]

    def trainer_settings(self) -> dict[str, Any]:
        """What to put in EXTEND_SUFFIX_TRAINER for this tier."""
        return self.model_dump(exclude={"name"})


TIERS = (
    MemoryTier(name="bf16", gradient_checkpointing=False, base_quantization="none", optimizer="adamw"),
    MemoryTier(name="bf16 + checkpointing", gradient_checkpointing=True, base_quantization="none", optimizer="adamw"),
    MemoryTier(
        name="int8 base + checkpointing", gradient_checkpointing=True, base_quantization="int8", optimizer="adamw"
    ),
    MemoryTier(
        name="int8 base + 8-bit AdamW + checkpointing",
        gradient_checkpointing=True,
        base_quantization="int8",
        optimizer="adamw8bit",
    ),
)


class Figure(BaseModel):
    model_config = _FROZEN

    value: float
    unit: str
    source: Literal["measured", "estimated"]
    basis: str = Field(description="Where the number comes from, in a few words.")

    def text(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.value:,.2f}{unit} ({self.source})"


class TierEstimate(BaseModel):
    model_config = _FROZEN

    tier: MemoryTier
    peak_memory: Figure
    fits: bool
    step_time: Figure


class RunTime(BaseModel):
    """Seconds of GPU time for the whole run in the chosen tier, by part."""

    model_config = _FROZEN

    training: Figure
    validation_losses: Figure
    previews: Figure
    reel: Figure
    total: Figure


class Estimate(BaseModel):
    model_config = _FROZEN

    gpu: Gpu
    video_tokens: int
    audio_tokens: int
    text_tokens: int
    tiers: list[TierEstimate]
    chosen: str | None = Field(description="The fastest tier that fits; None when none does.")
    run: RunTime | None
    price_per_hour: float | None
    cost: Figure | None

    def rows(self) -> list[dict[str, Any]]:
        """One row per tier: the table the CLI prints and the dataset-report artifact shows."""
        return [
            {
                "tier": t.tier.name,
                "peak_memory": t.peak_memory.text(),
                f"fits {self.gpu.key}": "yes" if t.fits else "no",
                "step_time": t.step_time.text(),
                "chosen": "<-" if t.tier.name == self.chosen else "",
            }
            for t in self.tiers
        ]

    def lines(self) -> list[str]:
        """The estimate in plain text lines."""
        out = [
            f"pre-flight estimate for {PRESET} on {self.gpu.name} ({self.gpu.memory_mib / 1024:.1f} GiB, "
            f"{self.gpu.bf16_tflops:g} TFLOP/s bf16): {self.video_tokens} video + {self.audio_tokens} audio + "
            f"{self.text_tokens} text tokens per window",
        ]
        for row in self.rows():
            out.append("  " + " | ".join(f"{k} {v}" for k, v in row.items() if v))
        if self.run is None:
            out.append("  no memory tier fits this GPU")
            return out
        parts = ("training", "validation_losses", "previews", "reel", "total")
        out.append("  run: " + ", ".join(f"{p} {_hours(getattr(self.run, p))}" for p in parts))
        if self.cost is not None:
            out.append(f"  cost at {self.price_per_hour:g}/h: {self.cost.text()}")
        return out


def deployment_markdown(work: Workload, gpu: str) -> str:
    """The estimate on the deployment's GPU as a markdown table (the dataset-report artifact)."""
    est = estimate(work, gpu)
    rows = est.rows()
    lines = [
        f"**Pre-flight on {est.gpu.name}**: {est.video_tokens} video + {est.audio_tokens} audio tokens per window",
        "",
        "| " + " | ".join(rows[0]) + " |",
        "|" + "---|" * len(rows[0]),
    ]
    lines += ["| " + " | ".join(str(v) for v in r.values()) + " |" for r in rows]
    if est.run is not None:
        lines += ["", f"Whole run: {_hours(est.run.total)}"]
    return "\n".join(lines)


def _hours(figure: Figure) -> str:
    return f"{figure.value / 3600:.2f} h ({figure.source})"


def estimate(
    work: Workload, gpu: str, price_per_hour: float | None = None, bench_report: Path = BENCH_REPORT
) -> Estimate:
    """The pre-flight estimate of `work` on `gpu` (a key of GPUS)."""
    card = GPUS[gpu]
    rows = bench_rows(bench_report)
    tiers = [_tier(work, card, tier, rows) for tier in TIERS]
    chosen = next((t for t in tiers if t.fits), None)
    run = _run_time(work, card, chosen) if chosen else None
    cost = None
    if run is not None and price_per_hour is not None:
        cost = Figure(
            value=run.total.value / 3600 * price_per_hour,
            unit="",
            source=run.total.source,
            basis=f"total hours x {price_per_hour:g} per hour",
        )
    return Estimate(
        gpu=card,
        video_tokens=work.video_tokens,
        audio_tokens=work.audio_tokens,
        text_tokens=info.TEXT_TOKENS,
        tiers=tiers,
        chosen=chosen.tier.name if chosen else None,
        run=run,
        price_per_hour=price_per_hour,
        cost=cost,
    )


# --- memory ----------------------------------------------------------------------------------------------------


def _meta_model(layers: int) -> torch.nn.Module:
    from diffusers import LTX2VideoTransformer3DModel

    with torch.device("meta"):
        return LTX2VideoTransformer3DModel(**(info.PRESETS[PRESET] | {"num_layers": layers}))


def _extrapolate(one: float, two: float) -> int:
    """The full model's figure from a 1- and a 2-block model's: every transformer block has the same shape, so the
    second block's share times the block count, plus what sits outside the blocks, is exact."""
    return int(one + (info.PRESETS[PRESET]["num_layers"] - 1) * (two - one))


@functools.cache
def model_params(rank: int) -> tuple[int, int]:
    """(transformer parameters, LoRA parameters at `rank` on the trainer's default targets) of the preset."""
    counts = []
    for layers in (1, 2):
        model = _meta_model(layers)
        base = sum(p.numel() for p in model.parameters())
        attach_lora(model, rank, list(ATTENTION_TARGETS))
        counts.append((base, sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)))
    (b1, l1), (b2, l2) = counts
    return _extrapolate(b1, b2), _extrapolate(l1, l2)


def peak_bytes(
    work: Workload,
    tier: MemoryTier,
    *,
    width: int | None = None,
    height: int | None = None,
    frames: int | None = None,
    rank: int | None = None,
) -> int:
    """Estimated peak bytes of a training step of `work` in `tier`, optionally at another bucket, length or rank."""
    params, lora = model_params(rank or work.rank)
    w, h, f = width or work.width, height or work.height, frames or work.frames
    audio = geometry.audio_steps(f / work.fps) if work.with_audio else 0
    parts = info.train_memory_bytes(
        params,
        lora,
        geometry.video_tokens(w, h, f),
        audio,
        base_bytes=1.0 if tier.base_quantization == "int8" else 2.0,
        optimizer_bytes=2 if tier.optimizer == "adamw8bit" else 8,
        checkpointing=tier.gradient_checkpointing,
        preset=PRESET,
    )
    return sum(parts.values()) + OVERHEAD_BYTES


def usable_bytes(card: Gpu) -> int:
    return int(card.memory_mib * 2**20 * USABLE_FRACTION)


def _tier(work: Workload, card: Gpu, tier: MemoryTier, rows: list[dict[str, Any]]) -> TierEstimate:
    cfg = info.PRESETS[PRESET]
    row = measured_row(
        rows,
        card.key,
        preset=PRESET,
        heads=cfg["num_attention_heads"],
        layers=cfg["num_layers"],
        bucket=f"{work.width}x{work.height}x{work.frames}",
        audio=work.with_audio,
        rank=work.rank,
        grad_ckpt=tier.gradient_checkpointing,
        optimizer=tier.optimizer,
        base=tier.base_quantization,
    )
    if row is not None and row.get("peak_cuda_mb"):
        peak = Figure(
            value=row["peak_cuda_mb"] / 1024, unit="GiB", source="measured", basis="bench/results full-size step"
        )
    else:
        peak = Figure(
            value=peak_bytes(work, tier) / GIB,
            unit="GiB",
            source="estimated",
            basis="model-info parameter counts + activation model",
        )
    return TierEstimate(
        tier=tier,
        peak_memory=peak,
        fits=peak.value * GIB <= usable_bytes(card),
        step_time=_step_time(work, card, tier, row),
    )


# --- time ------------------------------------------------------------------------------------------------------


@functools.cache
def counted_flops(width: int, height: int, frames: int, fps: float, rank: int, with_audio: bool) -> dict[str, int]:
    """model-info's FLOP count (meta device) of one batch-1 step at this geometry: `forward`, `train_step` and
    `train_step_with_checkpointing`, counted on a 1- and a 2-block model and extrapolated (a minute for all 48)."""
    counted = [
        info.train_step_flops(_meta_model(n), PRESET, frames, fps, width, height, rank=rank, with_audio=with_audio)
        for n in (1, 2)
    ]
    out = {k: _extrapolate(counted[0][k], counted[1][k]) for k in ("forward", "train_step")}
    return out | {"train_step_with_checkpointing": out["train_step"] + out["forward"]}


def _step_time(work: Workload, card: Gpu, tier: MemoryTier, row: dict[str, Any] | None) -> Figure:
    if row is not None:
        return Figure(value=row["s_per_step"], unit="s/step", source="measured", basis="bench/results full-size step")
    flops = counted_flops(work.width, work.height, work.frames, work.fps, work.rank, work.with_audio)
    total = flops["train_step_with_checkpointing" if tier.gradient_checkpointing else "train_step"]
    return Figure(
        value=total / (ASSUMED_MFU * card.bf16_tflops * 1e12),
        unit="s/step",
        source="estimated",
        basis=f"model-info FLOPs at {ASSUMED_MFU:.0%} MFU",
    )


def _run_time(work: Workload, card: Gpu, chosen: TierEstimate) -> RunTime:
    """Seconds per part of the run in the chosen tier. Forward passes are timed at the assumed MFU."""
    rate = ASSUMED_MFU * card.bf16_tflops * 1e12  # FLOP/s
    forward = counted_flops(work.width, work.height, work.frames, work.fps, work.rank, work.with_audio)["forward"]
    validations = work.steps // work.validate_every + 1 + (work.steps % work.validate_every != 0)  # + step 0
    val_s = validations * work.holdout_clips * work.validation_sigmas * forward / rate
    render_s = 0.0
    if work.validation_clips:
        sample = counted_flops(
            work.val_width, work.val_height, work.val_frames, work.val_fps, work.rank, work.with_audio
        )["forward"]
        render_s = work.validation_clips * work.sample_steps * work.sample_passes * sample / rate
    every = work.preview_every
    previews = len(range(every, work.steps, every)) if every and work.validation_clips else 0
    training = chosen.step_time.value * work.steps
    est = "estimated"
    total = training + val_s + previews * render_s + render_s
    return RunTime(
        training=Figure(value=training, unit="s", source=chosen.step_time.source, basis=f"{work.steps} steps"),
        validation_losses=Figure(value=val_s, unit="s", source=est, basis=f"{validations} held-out validations"),
        previews=Figure(value=previews * render_s, unit="s", source=est, basis=f"{previews} previews"),
        reel=Figure(value=render_s, unit="s", source=est, basis=f"{work.validation_clips} clips"),
        total=Figure(value=total, unit="s", source=est, basis="sum of the parts"),
    )
