"""The artifacts a run shows in the Prefect UI, made so that everything in them opens from a browser: output links
(presigned https for s3://, a plain location for a worker's disk) and images embedded as data URIs."""

from __future__ import annotations

from pathlib import Path

from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.runtime import flow_run

from ltxcore.job.links import image_data_uri, local_location, presigned_url
from ltxcore.job.request import ExtendSuffixResult
from ltxcore.job.settings import JobSettings
from ltxcore.store.fs import is_remote

OUTPUT_FIELDS = ("lora_file", "config_file", "video", "debug_dataset")


def output_artifacts(result: ExtendSuffixResult, settings: JobSettings) -> None:
    """One artifact per output, keyed `lora-file`, `config-file`, `video`, `debug-dataset`."""
    for name in OUTPUT_FIELDS:
        out = getattr(result, name)
        if out is None:
            continue
        key = name.replace("_", "-")
        size = f"{out.file_size:,} bytes"
        if is_remote(out.url):
            days = settings.link_expiry_days
            create_link_artifact(
                presigned_url(out.url, days),
                link_text=out.file_name,
                key=key,
                description=f"{out.file_name} ({size}, {out.url}); the link works for {days:g} days",
            )
            continue
        create_markdown_artifact(
            f"**{out.file_name}** ({size}) is {local_location(out.url)}.\n\n"
            f"Fetch this run's outputs with `extend-suffix outputs {flow_run.get_id()} --to DIR`.",
            key=key,
            description=f"{out.file_name}: on the worker's disk",
        )


def image_artifact(path: str | Path, key: str, description: str) -> None:
    """An image that renders in the UI with no file server: a markdown artifact holding it as a data URI."""
    create_markdown_artifact(f"![{description}]({image_data_uri(Path(path))})", key=key, description=description)
