"""The `extend-suffix` command line. Each verb calls the same functions the flow and the tests call.

Exit codes: 0 success, 2 the request was rejected (the 422 body is printed on stdout), 1 anything else.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ltxcore.errors import RequestRejected

if TYPE_CHECKING:
    from ltxcore.request import ExtendSuffixRequest

app = typer.Typer(
    name="extend-suffix",
    help="Train LTX-2.3 LoRAs that extend a video backward in time, and use them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_REJECTED = 2

RequestArg = Annotated[str, typer.Argument(help="Request JSON file, or - for standard input.")]
WorkDirOpt = Annotated[Path, typer.Option("--work-dir", help="Directory for stage outputs (reused to resume).")]
ModelOpt = Annotated[str, typer.Option("--model", help="'tiny', a local directory or an s3:// prefix.")]


def _read(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    path = Path(source)
    if not path.is_file():
        raise RequestRejected.one(("file",), f"request file {source!r} does not exist", "file_missing")
    return path.read_text(encoding="utf-8", errors="replace")


def _reject(exc: RequestRejected) -> None:
    typer.echo(exc.to_json())
    raise typer.Exit(EXIT_REJECTED)


@app.command()
def check(source: RequestArg) -> None:
    """Validate a request: print the normalised request as JSON, or the 422 body (exit 2)."""
    from ltxcore.request import parse_request

    try:
        request = parse_request(_read(source), allow_local=True)
    except RequestRejected as exc:
        _reject(exc)
    typer.echo(request.model_dump_json(indent=2))


PrivateHostsOpt = Annotated[bool, typer.Option(help="Fetch from private/loopback hosts too.")]
BucketOpt = Annotated[
    str | None, typer.Option("--bucket", help="WxH replacing the resolution bucket (smoke tests, tiny model).")
]


def _bucket(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


@app.command()
def prepare(
    source: RequestArg,
    work_dir: WorkDirOpt = Path("runs"),
    encode: Annotated[bool, typer.Option("--encode", help="Also encode the latent cache.")] = False,
    model: ModelOpt = "tiny",
    bucket: BucketOpt = None,
    allow_private_hosts: PrivateHostsOpt = False,
) -> None:
    """Fetch, extract, probe, split and fit the dataset; print the pre-flight report as JSON."""
    from ltxcore.dataset import prepare as prepare_dataset
    from ltxcore.dataset import summary
    from ltxcore.request import parse_request

    try:
        request = parse_request(_read(source), allow_local=True)
        manifest = prepare_dataset(
            request, work_dir, allow_local=True, allow_private_hosts=allow_private_hosts, size=_bucket(bucket)
        )
    except RequestRejected as exc:
        _reject(exc)
    report = summary(manifest)
    if encode:
        from ltxcore.model.cache import encode_dataset
        from ltxcore.model.spec import ModelSpec
        from ltxcore.settings import JobSettings

        device = JobSettings.from_env(work_root=str(work_dir)).torch_device()
        prompts = [v.prompt for v in request.validation]
        cache = encode_dataset(
            manifest,
            ModelSpec.parse(model),
            work_dir,
            device=device,
            negative_prompt=request.validation_negative_prompt,
            extra_prompts=prompts,
        )
        report["latent_cache"] = str(Path(cache.root) / "latent_cache.json")
    typer.echo(json.dumps(report, indent=2))


@app.command("model-info")
def model_info(
    preset: Annotated[str, typer.Option(help="Model configuration to account for.")] = "ltx-2.3",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    flops: Annotated[bool, typer.Option(help="Count the FLOPs of one training step (about 30 s).")] = True,
    with_audio: Annotated[bool, typer.Option("--with-audio", help="Count the step with audio (default: video-only, "
                                             "as the request's default).")] = False,
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


@app.command()
def run(
    source: RequestArg,
    work_dir: WorkDirOpt = Path("runs"),
    model: ModelOpt = "tiny",
    bucket: BucketOpt = None,
    allow_private_hosts: PrivateHostsOpt = False,
) -> None:
    """Run the whole job through the Prefect flow; the last stdout line is the ExtendSuffixResult as JSON."""
    from ltxcore.request import parse_request

    try:
        request = parse_request(_read(source), allow_local=True)
    except RequestRejected as exc:
        _reject(exc)
    _run_flow(request, work_dir, model, _bucket(bucket), allow_private_hosts, {})


def _run_flow(
    request: ExtendSuffixRequest,
    work_dir: Path,
    model: str,
    bucket: tuple[int, int] | None,
    allow_private_hosts: bool,
    trainer: dict[str, Any],
    sample_steps: int = 30,
) -> None:
    import os

    from ltxcore.settings import JobSettings

    work_dir = work_dir.resolve()
    settings = JobSettings(
        work_root=str(work_dir),
        output_root=str(work_dir / "outputs"),
        model=model,
        allow_local_inputs=True,
        allow_private_hosts=allow_private_hosts,
        bucket_override=bucket,
        trainer=trainer,
        sample_steps=sample_steps,
    )
    os.environ.update(settings.to_env())
    os.environ.setdefault("EXTEND_SUFFIX_PROGRESS_BAR", "1")
    from flows.extend_suffix import extend_suffix

    state = extend_suffix(request, return_state=True)
    outcome = state.result(raise_on_failure=False)
    typer.echo(f"==> to look at this run in the Prefect UI: .venv/bin/prefect server start, then open "
               f"http://127.0.0.1:4200/runs/flow-run/{state.state_details.flow_run_id}", err=True)
    if state.is_completed():
        typer.echo(outcome.model_dump_json())
        return
    if isinstance(outcome, dict) and outcome.get("status") == 422:
        typer.echo(json.dumps(outcome))
        raise typer.Exit(EXIT_REJECTED)
    typer.echo(f"the job failed: {state.message}", err=True)
    raise typer.Exit(1)


@app.command()
def demo(
    work_dir: WorkDirOpt = Path("runs/demo"),
    steps: Annotated[int, typer.Option(help="Training steps (100..20000).")] = 100,
) -> None:
    """README's main job: synthesise a small dataset and run the whole job on the tiny preset."""
    from ltxcore.demo_data import make_demo_archive
    from ltxcore.request import parse_request

    work_dir = work_dir.resolve()
    typer.echo(f"==> synthesising a small dataset under {work_dir / 'data'}", err=True)
    archive, closing = make_demo_archive(work_dir / "data", clips=6, seconds=2.0, size=(96, 96))
    request = parse_request(
        {
            "training_data_url": str(archive),
            "trigger_phrase": "sks",
            "number_of_steps": steps,
            "number_of_frames": 25,
            "conditioning_frames": 8,
            "resolution": "low",
            "with_audio": True,
            "validation": [{"video_url": str(closing), "prompt": "sks a white square glides across a dark room"}],
            "validation_number_of_frames": 25,
        }
    )
    (work_dir / "request.json").write_text(request.model_dump_json(indent=2))
    typer.echo(f"==> request: {work_dir / 'request.json'} (64x64 bucket: the tiny model's outputs are noise)", err=True)
    trainer = {"checkpoint_every": 50, "validate_every": 25, "preview_every": 50}
    _run_flow(request, work_dir, "tiny", (64, 64), False, trainer, sample_steps=10)


@app.command()
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
    from ltxcore.request import bucket as bucket_size
    from ltxcore.sample.command import extend_command

    try:
        bucket_size(resolution, aspect)  # type: ignore[arg-type]
    except KeyError:
        _reject(RequestRejected.one(("resolution",), f"unknown resolution/aspect {resolution!r} {aspect!r}"))
    for path, name in ((lora, "--lora"), (video, "--video")):
        if not path.is_file():
            _reject(RequestRejected.one((name,), f"{path} does not exist", "file_missing"))
    try:
        result = extend_command(
            lora,
            video,
            prompt,
            output,
            frames=frames,
            fps=fps,
            resolution=resolution,
            aspect=aspect,
            with_audio=with_audio,
            seed=seed,
            steps=steps,
            stg_scale=stg_scale,
            modality_scale=modality_scale,
            repeat=repeat,
            model=model,
            size=_bucket(bucket),
        )
    except RequestRejected as exc:
        _reject(exc)
    typer.echo(result.model_dump_json())


@app.command()
def serve(
    name: Annotated[str, typer.Option(help="Deployment name.")] = "extend-suffix",
    limit: Annotated[int, typer.Option(help="Runs at a time (one per GPU).")] = 1,
    train_deployment: Annotated[
        str | None, typer.Option(help="Train through this flow/deployment (a GPU pool) instead of in-process.")
    ] = None,
    serve_training: Annotated[
        bool, typer.Option(help="Also serve the train-lora flow here, as <name>-train, and train through it.")
    ] = False,
    only_training: Annotated[bool, typer.Option(help="Serve only the train-lora flow (on a GPU machine).")] = False,
) -> None:
    """Serve the extend-suffix deployment: the UI form comes from the request model, the API triggers runs.

    Deployment settings come from the environment (EXTEND_SUFFIX_*); local inputs stay refused unless
    EXTEND_SUFFIX_ALLOW_LOCAL=true, since anyone who can reach the API could otherwise read this machine's files.
    """
    import os

    from prefect import serve as serve_all

    from flows.extend_suffix import extend_suffix
    from flows.train_stage import train_lora_stage

    train_name = f"{name}-train"
    if serve_training and not train_deployment:
        train_deployment = f"train-lora/{train_name}"
    if train_deployment:
        os.environ["EXTEND_SUFFIX_TRAIN_DEPLOYMENT"] = train_deployment  # the flow runs started here inherit it
    deployments = []
    if not only_training:
        deployments.append(
            extend_suffix.to_deployment(
                name=name,
                tags=["extend-suffix"],
                concurrency_limit=None if train_deployment else limit,
                description="Train a backward-extension LoRA for LTX-2.3 from a zip of videos.",
            )
        )
    if serve_training or only_training:
        deployments.append(
            train_lora_stage.to_deployment(
                name=train_name,
                tags=["extend-suffix", "gpu"],
                concurrency_limit=limit,
                description="The training stage alone, for a GPU machine.",
            )
        )
    serve_all(*deployments, limit=max(limit, len(deployments) + 1))


@app.command()
def submit(
    source: RequestArg,
    deployment: Annotated[str, typer.Option(help="flow/deployment to run.")] = "extend-suffix/extend-suffix",
    follow: Annotated[bool, typer.Option(help="Print the run's logs until it ends.")] = True,
) -> None:
    """Submit a request to a Prefect server (PREFECT_API_URL) and follow the run; last line = result JSON."""
    from flows.remote import follow_run, submit_request
    from ltxcore.request import parse_request

    try:
        request = parse_request(_read(source), allow_local=False)  # a remote worker cannot read this machine
    except RequestRejected as exc:
        _reject(exc)
    run_id = submit_request(deployment, request)
    typer.echo(f"submitted flow run {run_id}", err=True)
    if not follow:
        typer.echo(json.dumps({"flow_run_id": str(run_id)}))
        return
    state, outcome = follow_run(run_id, lambda line: typer.echo(line, err=True))
    if state == "COMPLETED":
        typer.echo(json.dumps(outcome))
        return
    typer.echo(json.dumps(outcome) if outcome else f"the run ended {state}")
    raise typer.Exit(EXIT_REJECTED if isinstance(outcome, dict) and outcome.get("status") == 422 else 1)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
