"""Verbs that run here without Prefect: check, prepare, model-info, extend."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import (
    BucketOpt,
    ModelOpt,
    PrivateHostsOpt,
    RequestArg,
    WorkDirOpt,
    bucket_size,
    read_source,
    reject,
    rejections,
)
from ltxcore.errors import RequestRejected
from ltxcore.sample.options import ExtendOptions

if TYPE_CHECKING:
    from ltxcore.job.request import ExtendSuffixRequest
    from ltxcore.job.workload import Workload

GPU_KEYS = ("h100", "h100-pcie", "h200", "a100-80", "l40s", "rtx4090", "rtx5090")  # ltxcore.job.estimate.GPUS


def check(source: RequestArg) -> None:
    """Validate a request: print the normalised request as JSON, or the 422 body (exit 2)."""
    from ltxcore.job.request import parse_request

    with rejections():
        request = parse_request(read_source(source), allow_local=True)
    typer.echo(request.model_dump_json(indent=2))


def prepare(
    source: RequestArg,
    work_dir: WorkDirOpt = Path("runs"),
    encode: Annotated[bool, typer.Option("--encode", help="Also encode the latent cache.")] = False,
    model: ModelOpt = "tiny",
    bucket: BucketOpt = None,
    allow_private_hosts: PrivateHostsOpt = False,
    estimate: Annotated[
        bool, typer.Option("--estimate", help="Add GPU memory, time and cost for LTX-2.3 (text table on stderr).")
    ] = False,
    gpu: Annotated[str, typer.Option("--gpu", help="GPU for --estimate: " + ", ".join(GPU_KEYS) + ".")] = "h100",
    price_per_hour: Annotated[float | None, typer.Option("--price-per-hour", help="GPU price for --estimate.")] = None,
) -> None:
    """Fetch, extract, probe, split and fit the dataset; print the pre-flight report as JSON."""
    from ltxcore.intake.report import summary
    from ltxcore.job.plan import plan_job
    from ltxcore.job.prepare import prepare as prepare_dataset
    from ltxcore.job.request import parse_request
    from ltxcore.job.settings import JobSettings
    from ltxcore.sample.command import model_spec

    with rejections():
        request = parse_request(read_source(source), allow_local=True)
        if encode:
            model_spec(model)  # a bad --model is a 422 before any intake work
        if price_per_hour is not None and not (math.isfinite(price_per_hour) and price_per_hour >= 0):
            raise RequestRejected.one(("--price-per-hour",), f"must be a finite price >= 0 (got {price_per_hour})")
        usable_work_dir(work_dir)
        settings = JobSettings(
            work_root=str(work_dir),
            model=model,
            allow_local_inputs=True,
            allow_private_hosts=allow_private_hosts,
            bucket_override=bucket_size(bucket),
        )
        plan = plan_job(request, settings)
        manifest = prepare_dataset(plan)
    report = summary(manifest)
    if encode:
        from ltxcore.job.model_stages import encode_stage

        # the training cache as the flow encodes it (validation texts are a stage of their own), so both share it
        cache = encode_stage(manifest, settings, progress=lambda *_: None)
        report["latent_cache"] = str(Path(cache.root) / "latent_cache.json")
    if estimate:
        report["estimate"] = _estimate(request, plan.workload, gpu, price_per_hour, len(manifest.clips))
    typer.echo(json.dumps(report, indent=2))


def usable_work_dir(path: Path) -> None:
    """The work dir exists as a directory or can be made one (a 422 naming --work-dir otherwise)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RequestRejected.one(("--work-dir",), f"{path}: cannot be used as a directory ({exc.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise RequestRejected.one(("--work-dir",), f"{path}: not writable")


def _estimate(request: ExtendSuffixRequest, work: Workload, gpu: str, price: float | None, clips: int) -> dict:
    """The pre-flight estimate of the plan's workload on `clips` windows as JSON for the report; its table goes to
    stderr for a person to read."""
    from ltxcore.job.estimate import estimate as estimate_run
    from ltxcore.job.fits import ensure_fits

    if gpu not in GPU_KEYS:
        reject(RequestRejected.one(("--gpu",), f"unknown GPU {gpu!r}; known: {', '.join(GPU_KEYS)}"))
    result = estimate_run(work.model_copy(update={"clips": clips}), gpu, price)
    out = result.model_dump(mode="json")
    if result.chosen is None:  # what the deployment's check would answer on this GPU: which field to lower
        try:
            ensure_fits(request, work, gpu)
        except RequestRejected as exc:
            out["advice"] = exc.details[0].msg
    for line in [*result.lines(), *([f"  {out['advice']}"] if "advice" in out else [])]:
        typer.echo(line, err=True)
    return out


def model_info(
    preset: Annotated[str, typer.Option(help="Model configuration to account for.")] = "ltx-2.3",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    flops: Annotated[bool, typer.Option(help="Count the FLOPs of one training step (about 30 s).")] = True,
    with_audio: Annotated[
        bool, typer.Option("--with-audio", help="Count the step with audio (default: video-only, as the request's).")
    ] = False,
) -> None:
    """Parameter counts, memory and FLOPs of a model configuration, built on the meta device."""
    from ltxcore.model.info import model_info as info

    data = info(preset, flops_bucket=(768, 768) if flops else None, with_audio=with_audio)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    gib = 2**30
    typer.echo(
        f"{preset}: transformer {data['transformer_params'] / 1e9:.2f} B params, "
        f"{data['transformer_bf16_bytes'] / gib:.1f} GiB in bf16"
    )
    for rank, n in data["lora_params_per_rank"].items():
        typer.echo(f"  LoRA rank {rank:>3}: {n / 1e6:7.1f} M params, {n * 2 / 2**20:7.1f} MiB bf16")
    for name, t in data["tokens_per_bucket"].items():
        typer.echo(f"  {name:<22} {t['video_tokens']:>6} video tokens, {t['audio_tokens']} audio tokens")
    if "train_step_flops" in data:
        typer.echo(f"  one training step (768x768x{data['frames']}): {json.dumps(data['train_step_flops'])}")


def extend(
    lora: Annotated[Path, typer.Option("--lora", help="LoRA file (diffusion_model.* safetensors).")],
    video: Annotated[Path, typer.Option("--video", help="The closing clip to extend backward.")],
    prompt: Annotated[str, typer.Option("--prompt", help="Prompt (include the trigger phrase).")],
    output: Annotated[Path, typer.Option("--output", help="Where to write the extended mp4.")],
    options: ExtendOptions,
    model: ModelOpt = "tiny",
    bucket: BucketOpt = None,
) -> None:
    """Extend a closing clip backward with a trained LoRA: generated lead-in + the clip's own closing frames."""
    from ltxcore.sample.command import extend_command

    for path, name in ((lora, "--lora"), (video, "--video")):
        if not path.is_file():
            reject(RequestRejected.one((name,), f"{path} does not exist", "file_missing"))
    with rejections():
        result = extend_command(lora, video, prompt, output, options, model=model, size=bucket_size(bucket))
    typer.echo(result.model_dump_json())
