"""The `extend-suffix` command line. Each verb calls the same functions the flow and the tests call.

Exit codes: 0 success, 2 the request was rejected (the 422 body is printed on stdout), 3 the verb is not built yet,
1 anything else.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ltxcore.errors import RequestRejected

app = typer.Typer(
    name="extend-suffix",
    help="Train LTX-2.3 LoRAs that extend a video backward in time, and use them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_REJECTED = 2
EXIT_NOT_BUILT = 3

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


def _not_built(verb: str, issue: str) -> None:
    typer.echo(f"`extend-suffix {verb}` is not built yet ({issue}).", err=True)
    raise typer.Exit(EXIT_NOT_BUILT)


@app.command()
def check(source: RequestArg) -> None:
    """Validate a request: print the normalised request as JSON, or the 422 body (exit 2)."""
    from ltxcore.request import parse_request

    try:
        request = parse_request(_read(source), allow_local=True)
    except RequestRejected as exc:
        _reject(exc)
    typer.echo(request.model_dump_json(indent=2))


@app.command()
def prepare(
    source: RequestArg,
    work_dir: WorkDirOpt = Path("runs"),
    encode: Annotated[bool, typer.Option("--encode", help="Also encode the latent cache.")] = False,
    model: ModelOpt = "tiny",
) -> None:
    """Fetch, extract, probe, split and fit the dataset; print the pre-flight report as JSON."""
    _not_built("prepare", "dataset ingestion, issue #4")


@app.command("model-info")
def model_info(
    preset: Annotated[str, typer.Option(help="Model configuration to account for.")] = "ltx-2.3",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Parameter counts, memory and FLOPs of a model configuration, built on the meta device."""
    _not_built("model-info", "model layer, issue #5")


@app.command()
def run(source: RequestArg, work_dir: WorkDirOpt = Path("runs"), model: ModelOpt = "tiny") -> None:
    """Run the whole job through the Prefect flow and print the ExtendSuffixResult as JSON."""
    _not_built("run", "training, issue #6")


@app.command()
def demo(work_dir: WorkDirOpt = Path("runs/demo")) -> None:
    """README's main job: synthesise a small dataset and run the job on the tiny preset."""
    _not_built("demo", "training, issue #6")


@app.command()
def extend() -> None:
    """Extend a closing clip backward with a trained LoRA."""
    _not_built("extend", "inference, issue #7")


@app.command()
def serve() -> None:
    """Serve the extend-suffix deployment (UI form and REST trigger)."""
    _not_built("serve", "orchestration, issue #8")


@app.command()
def submit(source: RequestArg) -> None:
    """Submit a request to a Prefect server over the API and follow the run."""
    _not_built("submit", "orchestration, issue #8")


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    app()


__all__ = ["app", "json"]
