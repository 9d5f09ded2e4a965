"""The last stage: copy the outputs where the user reads them, result record last."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact

from ltxcore.job import publish as publishing
from ltxcore.job.receipt import Receipt
from ltxcore.job.request import ExtendSuffixResult
from tasks.common import IO_RETRIES, mirrored


@task(name="publish", **IO_RETRIES)
@mirrored
def publish(
    output_prefix: str,
    lora_file: str,
    config_file: str,
    billable_units: int,
    video: str | None,
    debug_dataset: str | None,
    best_lora_file: str | None = None,
    best_lora_step: int | None = None,
    receipt: Receipt | None = None,
) -> ExtendSuffixResult:
    result = publishing.publish(
        output_prefix,
        lora_file=Path(lora_file),
        config_file=Path(config_file),
        billable_units=billable_units,
        video=Path(video) if video else None,
        debug_dataset=Path(debug_dataset) if debug_dataset else None,
        best_lora_file=Path(best_lora_file) if best_lora_file else None,
        best_lora_step=best_lora_step,
        receipt=receipt,
    )
    for name in ("lora_file", "config_file", "video", "debug_dataset", "best_lora_file"):
        out = getattr(result, name)
        if out is not None:
            create_link_artifact(out.url, link_text=out.file_name, key=name.replace("_", "-"))
    create_markdown_artifact(
        f"```json\n{result.model_dump_json(indent=2)}\n```",
        key="extend-suffix-result",
        description=f"Result: {result.billable_units} billable units",
    )
    return result
