"""The last stage: copy the outputs where the user reads them, result record last."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from ltxcore.job import publish as publishing
from ltxcore.job.receipt import Receipt
from ltxcore.job.request import ExtendSuffixResult
from ltxcore.job.settings import JobSettings
from tasks.artifacts import output_artifacts
from tasks.common import IO_RETRIES, fetch_inputs
from tasks.result_record import record_result


@task(name="publish", **IO_RETRIES)
def publish(
    settings: JobSettings,
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
    fetch_inputs(settings, [lora_file, config_file, video, debug_dataset, best_lora_file])  # made on another worker
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
    output_artifacts(result, settings)  # presigned links for s3://, a plain location for a worker's disk
    record_result(
        result.model_dump(mode="json"),
        f"```json\n{result.model_dump_json(indent=2)}\n```",
        f"Result: {result.billable_units} billable units",
    )
    return result
