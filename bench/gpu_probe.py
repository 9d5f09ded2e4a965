"""One-process GPU probe of the 2.3 LoRA step (run by hand on a lent H100/H200; `--smoke` on a CPU).

    .venv/bin/python bench/gpu_probe.py                  # full size: 768x768x89, rank 32, random bf16 2.3 weights
    .venv/bin/python bench/gpu_probe.py --smoke          # the same variants at 1 head x 2 blocks, 64x64x17, CPU

The transformer is built once (random bf16 weights of the real 2.3 shapes, made on the device: no download) with a
rank-32 LoRA, and every variant runs on it in turn, each switch applied on top of the one before:

    as built        all-ones text mask passed as a bias, torch's SDPA order, peft's fp32 LoRA input cast, foreach
                    AdamW, all 48 blocks recomputed, eager (the trainer before its speed settings)
    + no mask, + cuDNN/Flash first, + no LoRA cast, + fused AdamW, + no audio adapters, then K = 24 / 16 / 8
    recomputed blocks, + compile (regional, inductor), K = auto; the int8 base tier (K = 48). With audio (run first,
    while the audio adapters exist): as built, everything with compile and K = auto, one CFG+STG+modality sampling
    step.

Per variant: median s/step over the timed steps (after warm-up), MFU (model FLOPs: forward + backward) and HFU (plus
the recomputed forwards), peak allocated and reserved memory, and the top kernels of one profiled step. An
out-of-memory variant is recorded as such and the probe goes on. FLOPs are counted on the meta device
(`info.step_flops`). Writes `bench/results/gpu_probe.{json,md}` (the smoke run: `gpu_probe-smoke.*`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ltxcore import geometry
from ltxcore.model import forward as model_forward
from ltxcore.model import info
from ltxcore.model.forward import TextBatch
from ltxcore.model.random_weights import random_transformer, shrink
from ltxcore.train.adapters import attach_lora, drop_audio_adapters, lora_parameters
from ltxcore.train.checkpointing import enable_partial_checkpointing
from ltxcore.train.data import Batch
from ltxcore.train.speed import compile_blocks, skip_lora_input_casts

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = ("to_q", "to_k", "to_v", "to_out.0")


@dataclass(frozen=True)
class Variant:
    name: str
    text_mask_bias: bool = True  # the all-ones mask handed on as a zero bias (the trainer before its speed settings)
    sdpa_preference: bool = False
    lora_cast: bool = True
    fused_adamw: bool = False
    checkpointed: int | str = "all"  # "all", "auto" or a count
    compiled: bool = False
    audio: bool = False
    int8: bool = False
    sample: bool = False  # one CFG+STG(+modality) sampling step instead of a training step
    drop_audio_adapters: bool = False  # a video-only run without audio adapters (cannot be undone)


def variants() -> list[Variant]:
    """Audio variants first (they need the audio adapters), then the video-only chain, which drops them."""
    base = Variant("as built")
    chain = [base]
    for name, change in (
        ("+ no text mask", {"text_mask_bias": False}),
        ("+ cuDNN/Flash first", {"sdpa_preference": True}),
        ("+ no LoRA input cast", {"lora_cast": False}),
        ("+ fused AdamW", {"fused_adamw": True}),
        ("+ no audio adapters", {"drop_audio_adapters": True}),
    ):
        chain.append(replace(chain[-1], name=name, **change))
    best = chain[-1]
    return [
        replace(base, name="audio: as built", audio=True),
        replace(chain[-2], name="audio: + all, compile, K=auto", audio=True, compiled=True, checkpointed="auto"),
        replace(chain[-2], name="sampling step cfg+stg+mod (audio)", audio=True, sample=True),
        *chain,
        *(replace(best, name=f"K={k}", checkpointed=k) for k in (24, 16, 8)),
        replace(best, name="+ compile, K=all", compiled=True),
        replace(best, name="+ compile, K=auto", compiled=True, checkpointed="auto"),
        replace(best, name="int8 base, K=all", int8=True),  # last: quantizing the base cannot be undone
    ]


class Probe:
    """The model, its LoRA and the inputs, built once; `run` applies a variant's switches and times it."""

    def __init__(self, args: argparse.Namespace):
        self.args, self.device = args, torch.device(args.device)
        self.cuda = self.device.type == "cuda"
        self.cfg = shrink("ltx-2.3", heads=1, layers=2) if args.smoke else dict(info.PRESETS["ltx-2.3"])
        start = time.perf_counter()
        self.model = random_transformer(
            self.cfg, device=self.device, dtype=torch.bfloat16 if self.cuda else torch.float32
        )
        attach_lora(self.model, args.rank, TARGETS, seed=0)  # audio adapters too: the audio variants train them
        self.build_s = time.perf_counter() - start
        self.dropped_audio = False
        w, h = args.width, args.height
        lw, lh = geometry.latent_size(w, h)
        self.latent = (geometry.latent_frames(args.frames), lh, lw)
        self.audio_steps = geometry.audio_steps(args.frames / args.fps)
        g = torch.Generator().manual_seed(0)
        self.text = TextBatch(
            video=torch.randn(1, info.TEXT_TOKENS, self.cfg["cross_attention_dim"], generator=g),
            audio=torch.randn(1, info.TEXT_TOKENS, self.cfg["audio_cross_attention_dim"], generator=g),
            mask=torch.ones(1, info.TEXT_TOKENS, dtype=torch.int64),
        )
        self.video = torch.randn(1, 128, *self.latent, generator=g)  # [1, 128, F, H, W]
        self.audio = torch.randn(1, 8, self.audio_steps, 16, generator=g)  # [1, 8, T, 16]
        self.flops = {
            a: info.step_flops(self.cfg, args.frames, args.fps, w, h, rank=args.rank, with_audio=a)
            for a in (False, True)
        }
        self.peak = args.peak_tflops or (
            info.peak_tflops_of(torch.cuda.get_device_name(self.device)) if self.cuda else None
        )

    # --- switches ---------------------------------------------------------------------------------------------------

    def _apply(self, v: Variant) -> int:
        from peft.tuners.lora import LoraLayer

        model_forward.CUDA_SDPA_PREFERENCE[:] = [] if not v.sdpa_preference else list(SDPA_ORDER)
        if v.lora_cast:
            for m in self.model.modules():
                if isinstance(m, LoraLayer):
                    m.cast_input_dtype_enabled = True
        else:
            skip_lora_input_casts(self.model)
        if v.drop_audio_adapters and not self.dropped_audio:
            drop_audio_adapters(self.model)
            self.dropped_audio = True
        assert not (v.audio and self.dropped_audio), "audio variants must run before the audio adapters are dropped"
        if v.int8:
            from ltxcore.train.memory import quantize_base

            quantize_base(self.model)  # irreversible: the int8 variant runs after every bf16 one
        for block in self.model.transformer_blocks:
            block._compiled_call_impl = None
        if v.compiled:
            compile_blocks(self.model, backend=self.args.compile_backend)
        count = self._checkpointed(v)
        enable_partial_checkpointing(self.model, count)
        return count

    def _checkpointed(self, v: Variant) -> int:
        n = len(self.model.transformer_blocks)
        if v.checkpointed == "all":
            return n
        if v.checkpointed != "auto":
            return min(int(v.checkpointed), n)
        if not self.cuda:
            return n
        tokens = self.latent[0] * self.latent[1] * self.latent[2]
        from ltxcore.train.checkpointing import apply_checkpointing

        params = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        return apply_checkpointing(
            self.model,
            True,
            "auto",
            self.device,
            video_tokens=tokens,
            audio_tokens=self.audio_steps if v.audio else 0,
            batch_size=1,
            rank=self.args.rank,
            trainable_params=params,
        )

    # --- one variant ------------------------------------------------------------------------------------------------

    def run(self, v: Variant) -> dict:
        count = self._apply(v)
        params = list(lora_parameters(self.model, with_audio=v.audio).values())
        opt = torch.optim.AdamW(params, lr=1e-4, fused=True if v.fused_adamw else None)
        batch = self._batch(v)
        step = partial(self._sample_step, batch) if v.sample else partial(self._train_step, batch, params, opt)
        if self.cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
        times = []
        for _ in range(self.args.warmup + self.args.steps):
            start = time.perf_counter()
            step()
            self._sync()
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times[self.args.warmup :])
        row = {
            "variant": v.name,
            **asdict(v),
            "checkpointed_blocks": count,
            "s_per_step": round(seconds, 4),
            "first_step_s": round(times[0], 2),
            **self._memory(),
        }  # the first step holds any compile
        if not v.sample:
            f = self.flops[v.audio]
            row["step_tflop"] = round(f["train_step"] / 1e12, 2)
            if self.peak:
                row.update(info.utilisation(f["train_step"], f["block_forward"], count, seconds, self.peak))
        row["top_kernels"] = self._top_kernels(step)
        return row

    def _batch(self, v: Variant):
        from ltxcore.train.step import SuffixSplit, prepare_batch

        text = TextBatch(
            video=self.text.video,
            audio=self.text.audio,
            mask=self.text.mask,
            full_mask=False if v.text_mask_bias else None,
        )
        batch = Batch(clip_ids=["probe"], video=self.video, audio=self.audio if v.audio else None, text=text)
        self.plan = SuffixSplit(conditioning_frames=8 * max(1, self.latent[0] // 3), frame_rate=self.args.fps)
        return prepare_batch(batch, self.plan, torch.Generator().manual_seed(1))

    def _autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.cuda else contextlib.nullcontext()

    def _train_step(self, prepared, params: list[torch.nn.Parameter], opt: torch.optim.Optimizer) -> None:
        from ltxcore.train.step import prepared_losses

        self.model.train()
        with self._autocast():
            losses = prepared_losses(self.model, prepared, self.plan, self.device)
        losses.total.mean().backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    @torch.no_grad()
    def _sample_step(self, prepared) -> None:
        from ltxcore.sample.guidance import Guidance, Noisy, guided_x0

        self.model.eval()
        b = prepared.batch
        text = TextBatch(
            video=b.text.video.repeat(2, 1, 1), audio=b.text.audio.repeat(2, 1, 1), mask=b.text.mask.repeat(2, 1)
        ).to(self.device)
        video = Noisy(prepared.video.noisy.to(self.device), prepared.video.timestep.to(self.device))
        audio = (
            None
            if prepared.audio is None
            else Noisy(prepared.audio.noisy.to(self.device), prepared.audio.timestep.to(self.device))
        )
        f, h, w = self.latent
        geo = model_forward.VideoGeometry(frames=f, height=h, width=w, fps=self.args.fps)
        with self._autocast():
            guided_x0(
                self.model,
                video,
                audio,
                0.5,
                text,
                geo,
                Guidance(stg_blocks=(len(self.model.transformer_blocks) - 1,) if self.args.smoke else None),
            )

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def _memory(self) -> dict:
        if not self.cuda:
            from ltxcore.train.metrics import peak_memory_mb

            return peak_memory_mb(self.device)
        gib = 2**30
        return {
            "peak_allocated_gib": round(torch.cuda.max_memory_allocated(self.device) / gib, 2),
            "peak_reserved_gib": round(torch.cuda.max_memory_reserved(self.device) / gib, 2),
        }

    def _top_kernels(self, step) -> list[dict]:
        from torch.profiler import ProfilerActivity, profile

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if self.cuda else [])
        with profile(activities=activities) as prof:
            step()
            self._sync()
        key = "self_device_time_total" if self.cuda else "self_cpu_time_total"
        events = prof.key_averages()
        if not self.cuda:  # on the CPU the operators are the kernels; autograd nodes (MulBackward0) only wrap them
            events = [e for e in events if e.key.startswith("aten::")]
        events = sorted(events, key=lambda e: getattr(e, key), reverse=True)
        total = sum(getattr(e, key) for e in events) or 1
        return [
            {"name": e.key[:80], "ms": round(getattr(e, key) / 1000, 2), "share": round(getattr(e, key) / total, 3)}
            for e in events[: self.args.top]
        ]


SDPA_ORDER = list(model_forward.CUDA_SDPA_PREFERENCE)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="1 head x 2 blocks at 64x64x17, one step each, on the CPU")
    ap.add_argument("--size", default="768x768")
    ap.add_argument("--frames", type=int, default=89)
    ap.add_argument("--fps", type=float, default=24.0)
    ap.add_argument("--rank", type=int, default=32)
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps per variant (allocation, autotune, compile)")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per variant")
    ap.add_argument("--top", type=int, default=5, help="kernels listed per variant")
    ap.add_argument("--only", nargs="*", help="variant names to run (default: all)")
    ap.add_argument("--compile-backend", default=None, help="default: inductor on CUDA, aot_eager on the CPU")
    ap.add_argument("--peak-tflops", type=float, help="dense bf16 peak of the device (default: known GPUs)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.smoke:
        args.size, args.frames, args.warmup, args.steps, args.top = "64x64", 17, 0, 1, 3
    args.width, args.height = (int(x) for x in args.size.lower().split("x"))
    args.compile_backend = args.compile_backend or ("inductor" if args.device.startswith("cuda") else "aot_eager")
    if args.device.startswith("cuda"):
        from ltxcore.train.speed import use_expandable_segments

        use_expandable_segments()
    start = time.perf_counter()
    probe = Probe(args)
    rows = []
    for v in variants():
        if args.only and v.name not in args.only:
            continue
        try:
            rows.append(probe.run(v))
        except torch.OutOfMemoryError as exc:
            rows.append({"variant": v.name, "error": f"out of memory: {str(exc).splitlines()[0][:160]}"})
            torch.cuda.empty_cache()
        print(json.dumps(rows[-1]), flush=True)
    report = {
        "when": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "device": torch.cuda.get_device_name() if probe.cuda else "cpu",
        "torch": torch.__version__,
        "smoke": args.smoke,
        "bucket": f"{args.size}x{args.frames}",
        "rank": args.rank,
        "heads": probe.cfg["num_attention_heads"],
        "layers": probe.cfg["num_layers"],
        "build_s": round(probe.build_s, 1),
        "wall_s": round(time.perf_counter() - start, 1),
        "peak_tflops": probe.peak,
        "flops": {"video": probe.flops[False], "audio": probe.flops[True]},
        "rows": rows,
    }
    write(report, args.out, "gpu_probe-smoke" if args.smoke else "gpu_probe")


def write(report: dict, out: Path, stem: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"# GPU probe ({report['when']}, {report['device']}, torch {report['torch']})",
        "",
        f"{report['bucket']}, rank {report['rank']}, {report['heads']} heads x {report['layers']} blocks; model "
        f"built in {report['build_s']} s, probe {report['wall_s']} s",
        "",
        "| variant | K | s/step | MFU | HFU | peak alloc / reserved | top kernel |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        if "error" in r:
            lines.append(f"| {r['variant']} | | {r['error']} | | | | |")
            continue
        mem = (
            f"{r['peak_allocated_gib']} / {r['peak_reserved_gib']} GiB"
            if "peak_allocated_gib" in r
            else f"RSS {r['peak_rss_mb']:.0f} MiB"
        )
        top = r["top_kernels"][0] if r["top_kernels"] else {"name": "", "share": 0}
        mfu, hfu = (f"{r[k]:.1%}" if k in r else "n/a" for k in ("mfu", "hfu"))
        lines.append(
            f"| {r['variant']} | {r['checkpointed_blocks']} | {r['s_per_step']} | {mfu} | {hfu} "
            f"| {mem} | {top['name'][:40]} ({top['share']:.0%}) |"
        )
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
