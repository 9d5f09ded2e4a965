"""Verbs that run here without Prefect: check, prepare, model-info, extend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

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
) -> None:
    """Fetch, extract, probe, split and fit the dataset; print the pre-flight report as JSON."""
    from ltxcore.intake.report import summary
    from ltxcore.job.plan import plan_job
    from ltxcore.job.prepare import prepare as prepare_dataset
    from ltxcore.job.request import parse_request
    from ltxcore.job.settings import JobSettings

    with rejections():
        request = parse_request(read_source(source), allow_local=True)
        settings = JobSettings(
            work_root=str(work_dir),
            model=model,
            allow_local_inputs=True,
            allow_private_hosts=allow_private_hosts,
            bucket_override=bucket_size(bucket),
        )
        plan = plan_job(request, settings)
        manifest = prepare_dataset(plan, settings)
    report = summary(manifest)
    if encode:
        from ltxcore.job.stages import encode_stage
        from ltxcore.prompts import DEFAULT_NEGATIVE_PROMPT

        # the training cache as the flow encodes it (validation texts are a stage of their own), so both share it
        cache = encode_stage(manifest, settings, DEFAULT_NEGATIVE_PROMPT, [], progress=lambda *_: None)
        report["latent_cache"] = str(Path(cache.root) / "latent_cache.json")
    typer.echo(json.dumps(report, indent=2))


def model_info(
    preset: Annotated[str, typer.Option(help="Model configuration to account for.")] = "ltx-2.3",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    flops: Annotated[bool, typer.Option(help="Count the FLOPs of one training step (about 30 s).")] = True,
) -> None:
    """Parameter counts, memory and FLOPs of a model configuration, built on the meta device."""
    from ltxcore.model.info import model_info as info

    data = info(preset, flops_bucket=(768, 768) if flops else None)
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
    frames: Annotated[int, typer.Option(help="Frames per extension, snapped down to 8k+1.")] = 89,
    fps: Annotated[int, typer.Option(help="Frame rate.")] = 24,
    resolution: Annotated[str, typer.Option(help="low, medium or high.")] = "high",
    aspect: Annotated[str, typer.Option(help="16:9, 1:1 or 9:16.")] = "1:1",
    with_audio: Annotated[bool | None, typer.Option("--with-audio/--no-audio", help="Default: as trained.")] = None,
    seed: Annotated[int, typer.Option(help="Noise seed.")] = 42,
    steps: Annotated[int, typer.Option(help="Denoising steps.")] = 30,
    stg_scale: Annotated[float, typer.Option(help="Spatio-temporal guidance (0 = off).")] = 1.0,
    modality_scale: Annotated[
        float, typer.Option(help="Audio-video modality guidance when audio is generated (1 = off; one more pass).")
    ] = 3.0,
    repeat: Annotated[int, typer.Option(help="Chain N extensions backward for a longer lead-in.")] = 1,
    model: ModelOpt = "tiny",
    bucket: BucketOpt = None,
) -> None:
    """Extend a closing clip backward with a trained LoRA: generated lead-in + the clip's own closing frames."""
    from ltxcore.geometry import bucket as bucket_of
    from ltxcore.sample.command import extend_command

    try:
        bucket_of(resolution, aspect)  # type: ignore[arg-type]
    except KeyError:
        reject(RequestRejected.one(("resolution",), f"unknown resolution/aspect {resolution!r} {aspect!r}"))
    for path, name in ((lora, "--lora"), (video, "--video")):
        if not path.is_file():
            reject(RequestRejected.one((name,), f"{path} does not exist", "file_missing"))
    with rejections():
        result = extend_command(
            lora,
            video,
            prompt,
            output,
            frames=frames,
            fps=fps,
            resolution=resolution,  # type: ignore[arg-type]
            aspect=aspect,  # type: ignore[arg-type]
            with_audio=with_audio,
            seed=seed,
            steps=steps,
            stg_scale=stg_scale,
            modality_scale=modality_scale,
            repeat=repeat,
            model=model,
            size=bucket_size(bucket),
        )
    typer.echo(result.model_dump_json())
