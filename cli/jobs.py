"""Verbs that go through Prefect: run and demo (the flow in this process), serve and submit (deployments, the API)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import (
    EXIT_REJECTED,
    BucketOpt,
    ModelOpt,
    PrivateHostsOpt,
    RequestArg,
    WorkDirOpt,
    bucket_size,
    read_source,
    rejections,
)
from ltxcore.errors import RequestRejected

# The demo on the toy preset: a dataset drawn from the toy world, sized so that the whole demo stays near two minutes
# on 2 CPU cores (docs/toy-world.md).
DEMO_STEPS = 150
DEMO_CLIPS = 16
DEMO_FRAMES = 33
DEMO_CLOSINGS = 2  # the request allows two validation clips
DEMO_RANK = 16
DEMO_LEARNING_RATE = 1e-3
DEMO_SAMPLE_STEPS = 10

if TYPE_CHECKING:  # the CLI starts fast: torch and Prefect load only for the verb that needs them
    from ltxcore.job.request import ExtendSuffixRequest
    from ltxcore.job.settings import JobSettings
    from ltxcore.train.config import TrainerSettings


def run(
    source: RequestArg,
    work_dir: WorkDirOpt = Path("runs"),
    model: ModelOpt = "tiny",
    bucket: BucketOpt = None,
    allow_private_hosts: PrivateHostsOpt = False,
    output_root: Annotated[
        str | None, typer.Option(help="Publish here: a directory or an s3:// prefix (default <work-dir>/outputs).")
    ] = None,
) -> None:
    """Run the whole job through the Prefect flow; the last stdout line is the ExtendSuffixResult as JSON."""
    from ltxcore.job.request import parse_request

    with rejections():
        request = parse_request(read_source(source), allow_local=True)
        size = bucket_size(bucket)
    more = {"output_root": output_root} if output_root else {}
    run_flow(request, _local_settings(work_dir, model, size, allow_private_hosts, **more))


def _local_settings(
    work_dir: Path, model: str, size: tuple[int, int] | None, allow_private_hosts: bool, **more: object
) -> JobSettings:
    from ltxcore.job.settings import JobSettings

    work = work_dir.resolve()
    more.setdefault("output_root", str(work / "outputs"))
    return JobSettings(
        work_root=str(work),
        model=model,
        allow_local_inputs=True,
        allow_private_hosts=allow_private_hosts,
        bucket_override=size,
        progress_bar=True,
        **more,
    )


def run_flow(request: ExtendSuffixRequest, settings: JobSettings) -> None:
    """The flow in this process, under the settings this verb resolved: this process is the deployment."""
    from prefect.settings import PREFECT_API_URL

    from flows.extend_suffix import job_flow

    state = job_flow(settings)(request, return_state=True)
    outcome = state.result(raise_on_failure=False)
    run_id = state.state_details.flow_run_id
    hint = (
        f"open {ui_link(run_id)}"
        if PREFECT_API_URL.value()
        # the embedded server is gone; its database (PREFECT_HOME) is what `prefect server start` serves
        else f".venv/bin/prefect server start, then open http://127.0.0.1:4200/runs/flow-run/{run_id}"
    )
    typer.echo(f"==> to look at this run in the Prefect UI: {hint}", err=True)
    if state.is_completed():
        typer.echo(outcome.model_dump_json())
        return
    if isinstance(outcome, RequestRejected):  # the flow's rejected state carries the exception (see flows)
        from ltxcore.job.rejection import rejection_body

        typer.echo(json.dumps(rejection_body(outcome)))
        raise typer.Exit(EXIT_REJECTED)
    typer.echo(f"the job failed: {state.message}", err=True)
    raise typer.Exit(1)


def ui_link(run_id: object) -> str:
    """The run's page on the UI of the API this process used (PREFECT_UI_URL, else the API URL without /api)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL

    ui = PREFECT_UI_URL.value() or (PREFECT_API_URL.value() or "").removesuffix("/api")
    return f"{ui.rstrip('/')}/runs/flow-run/{run_id}"


def demo(
    work_dir: WorkDirOpt = Path("runs/demo"),
    steps: Annotated[int, typer.Option(help="Training steps (100..20000).")] = DEMO_STEPS,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="'tiny' (random weights: the pipeline on its smallest model) or 'toy' (LTX-2.3 classes trained on "
            "the toy world; the reel scores each lead-in against the true past).",
        ),
    ] = "tiny",
) -> None:
    """README's main job: a small dataset through the whole job. On `toy` the dataset is drawn from the toy world and
    the reel scores each generated lead-in against the true past (docs/toy-world.md)."""
    from ltxcore.job.request import parse_request

    work_dir = work_dir.resolve()
    if model not in ("toy", "tiny"):
        with rejections():
            raise RequestRejected.one(("--model",), f"the demo runs on 'toy' or 'tiny' (got {model!r})")
    typer.echo(f"==> synthesising a small dataset under {work_dir / 'data'}", err=True)
    body, size, trainer = _demo_request(work_dir / "data", steps, model)
    with rejections():
        request = parse_request(body)
    (work_dir / "request.json").write_text(request.model_dump_json(indent=2))
    typer.echo(f"==> request: {work_dir / 'request.json'} (model {model}, {size[0]}x{size[1]} bucket)", err=True)
    run_flow(request, _local_settings(work_dir, model, size, False, trainer=trainer, sample_steps=DEMO_SAMPLE_STEPS))
    if model == "toy":
        _show_learning(work_dir, request.conditioning_frames)


def _show_learning(work_dir: Path, conditioning_frames: int) -> None:
    """Print the final reel's learning metric and write a frame strip of its first entry (generated over truth)."""
    from ltxcore.sample.reel import ValidationReel
    from ltxcore.sample.world_strip import lead_in_strip, learning_table

    reports = sorted(work_dir.glob("**/report-final.json"), key=lambda p: p.stat().st_mtime)
    if not reports:
        return
    reel = ValidationReel.model_validate_json(reports[-1].read_text())
    typer.echo(learning_table(reel), err=True)
    entry = next((e for e in reel.entries if e.world is not None), None)
    if entry is not None:
        strip = lead_in_strip(entry, conditioning_frames, work_dir / "lead-in-strip.png")
        typer.echo(f"==> frame strip (generated above the true past): {strip}", err=True)


def _demo_request(data: Path, steps: int, model: str) -> tuple[dict, tuple[int, int], TrainerSettings]:
    """The demo's request body, bucket and trainer settings: the toy world on `toy`, gliding squares on `tiny`."""
    from ltxcore.train.config import TrainerSettings

    if model == "tiny":
        from ltxcore.media.synth import make_demo_archive

        archive, closing = make_demo_archive(data, clips=6, seconds=2.0, size=(96, 96))
        body = {
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
        trainer = TrainerSettings(checkpoint_every=50, validate_every=25, preview_every=50)
        return body, (64, 64), trainer
    from ltxcore.media.world import make_world_archive

    archive, closings = make_world_archive(data, clips=DEMO_CLIPS, frames=DEMO_FRAMES, closings=DEMO_CLOSINGS)
    body = {
        "training_data_url": str(archive),
        "trigger_phrase": "sks",
        "number_of_steps": steps,
        "learning_rate": DEMO_LEARNING_RATE,
        "rank": DEMO_RANK,
        "number_of_frames": DEMO_FRAMES,
        "conditioning_frames": 8,
        "resolution": "low",
        "with_audio": False,
        "validation": [{"video_url": str(c), "prompt": "sks " + c.with_suffix(".txt").read_text()} for c in closings],
        "validation_number_of_frames": DEMO_FRAMES,
    }
    trainer = TrainerSettings(checkpoint_every=steps, validate_every=max(25, steps // 4), preview_every=steps // 2)
    return body, (128, 128), trainer


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
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Model to serve (required here, or EXTEND_SUFFIX_MODEL): a diffusers-layout "
            "directory, an s3:// prefix, or 'tiny' (random toy weights) when named.",
        ),
    ] = None,
) -> None:
    """Serve the extend-suffix deployment: the UI form comes from the request model, the API triggers runs.

    Deployment settings come from the environment (EXTEND_SUFFIX_*); local inputs stay refused unless
    EXTEND_SUFFIX_ALLOW_LOCAL=true, since anyone who can reach the API could otherwise read this machine's files.
    The model must be named (--model or EXTEND_SUFFIX_MODEL): a served run bills real units, so it never falls back
    to the random-weight tiny preset.
    """
    from ltxcore.job.serving import deployment_description, served_model

    with rejections():
        os.environ["EXTEND_SUFFIX_MODEL"] = served_model(model, os.environ.get("EXTEND_SUFFIX_MODEL"))
    from prefect import serve as serve_all

    from flows.extend_suffix import extend_suffix
    from flows.training import train_lora_flow
    from ltxcore.job.settings import JobSettings

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
                description=deployment_description(JobSettings()),
            )
        )
    if serve_training or only_training:
        deployments.append(
            train_lora_flow.to_deployment(
                name=train_name,
                tags=["extend-suffix", "gpu"],
                concurrency_limit=limit,
                description="The training stage alone, for a GPU machine.",
            )
        )
    serve_all(*deployments, limit=max(limit, len(deployments) + 1))


def submit(
    source: RequestArg,
    deployment: Annotated[str, typer.Option(help="flow/deployment to run.")] = "extend-suffix/extend-suffix",
    follow: Annotated[bool, typer.Option(help="Print the run's logs until it ends.")] = True,
    download: Annotated[
        Path | None, typer.Option(help="When the run succeeds, copy its outputs into this directory.")
    ] = None,
) -> None:
    """Submit a request to a Prefect server (PREFECT_API_URL) and follow the run; last line = result JSON."""
    from flows.remote import follow_run, submit_request
    from ltxcore.job.request import parse_request

    with rejections():
        request = parse_request(read_source(source), allow_local=False)  # a remote worker cannot read this machine
    run_id = submit_request(deployment, request)
    typer.echo(f"submitted flow run {run_id}", err=True)
    typer.echo(f"==> to look at this run in the Prefect UI: open {ui_link(run_id)}", err=True)
    if not follow:
        typer.echo(json.dumps({"flow_run_id": str(run_id)}))
        return
    state, outcome = follow_run(run_id, lambda line: typer.echo(line, err=True))
    if state == "COMPLETED":
        if download is not None:
            _download(outcome, download)
        typer.echo(json.dumps(outcome))
        return
    typer.echo(json.dumps(outcome) if outcome else f"the run ended {state}")
    raise typer.Exit(EXIT_REJECTED if isinstance(outcome, dict) and outcome.get("status") == 422 else 1)


def api(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8443,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="PEM certificate (chain) for https.")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key of --tls-cert.")] = None,
) -> None:
    """Serve the hosted queue API (what fal's client speaks) in front of the deployment on PREFECT_API_URL.

    Keys: EXTEND_SUFFIX_API_KEYS (sha256 hex digests) or EXTEND_SUFFIX_API_KEYS_FILE; see README, "Queue API".
    """
    from queue_api.serve import serve as serve_api

    try:
        serve_api(host, port, tls_cert, tls_key)
    except ValueError as exc:  # a setting is wrong: say which, no traceback
        typer.echo(f"extend-suffix api: {exc}", err=True)
        raise typer.Exit(EXIT_REJECTED) from None


def outputs(
    run_id: Annotated[str, typer.Argument(help="The flow run's id (as `submit` and the UI show it).")],
    to: Annotated[Path, typer.Option("--to", help="Directory to copy the outputs into.")] = Path("."),
) -> None:
    """Copy a finished run's outputs (LoRA, config, reel, debug zip) to this machine over the storage the deployment
    publishes to; prints the result JSON."""
    from uuid import UUID

    from prefect.client.orchestration import get_client

    from flows.remote import result_artifact

    try:
        flow_run_id = UUID(run_id)
    except ValueError:
        raise typer.BadParameter(f"not a flow run id: {run_id!r}", param_hint="RUN_ID") from None
    with get_client(sync_client=True) as client:
        result = result_artifact(client, flow_run_id)
    if result is None or result.get("status") == 422 or "lora_file" not in result:
        typer.echo(
            f"flow run {run_id} has no published outputs (it failed, was rejected or is still running)", err=True
        )
        raise typer.Exit(1)
    _download(result, to)
    typer.echo(json.dumps(result))


def _download(result: dict, dest: Path) -> None:
    from ltxcore.job.download import download_outputs

    try:
        for path in download_outputs(result, dest):
            typer.echo(f"==> {path} ({path.stat().st_size:,} bytes)", err=True)
    except OSError as exc:
        typer.echo(f"could not download the outputs: {exc}", err=True)
        raise typer.Exit(1) from None
