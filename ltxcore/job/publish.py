"""Publish a finished job's outputs to a local directory or an s3:// prefix.

Each output is copied whole (S3 PUTs are atomic per object; local copies go through a temporary name), and the
result record `result.json` is written LAST: a reader that finds it finds every file it names complete.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ltxcore.job.receipt import Receipt
from ltxcore.job.request import ExtendSuffixResult, OutputFile
from ltxcore.store.atomic import atomic_write_text, replace_atomically
from ltxcore.store.fs import filesystem, is_remote

RESULT_NAME = "result.json"
_CONTENT_TYPES = {
    ".safetensors": "application/octet-stream",
    ".json": "application/json",
    ".mp4": "video/mp4",
    ".zip": "application/zip",
}


def _put(local: Path, dest_url: str) -> None:
    if is_remote(dest_url):
        fs, path = filesystem(dest_url)
        fs.put_file(str(local), path)
        return
    replace_atomically(dest_url.removeprefix("file://"), lambda tmp: shutil.copyfile(local, tmp))


def _url(dest: str) -> str:
    return dest if is_remote(dest) else Path(dest.removeprefix("file://")).resolve().as_uri()


def publish(
    output_prefix: str,
    *,
    lora_file: Path,
    config_file: Path,
    billable_units: int,
    video: Path | None = None,
    debug_dataset: Path | None = None,
    best_lora_file: Path | None = None,
    best_lora_step: int | None = None,
    receipt: Receipt | None = None,
) -> ExtendSuffixResult:
    """Copy the outputs under `output_prefix`, then write the result record, and return it."""
    prefix = output_prefix.rstrip("/")
    entries: dict[str, OutputFile | None] = {}
    for name, local in (
        ("lora_file", lora_file),
        ("config_file", config_file),
        ("video", video),
        ("debug_dataset", debug_dataset),
        ("best_lora_file", best_lora_file),
    ):
        if local is None:
            entries[name] = None
            continue
        dest = f"{prefix}/{local.name}"
        _put(local, dest)
        entries[name] = OutputFile(
            url=_url(dest),
            file_name=local.name,
            file_size=local.stat().st_size,
            content_type=_CONTENT_TYPES.get(local.suffix, "application/octet-stream"),
        )
    step = best_lora_step if best_lora_file is not None else None
    result = ExtendSuffixResult(billable_units=billable_units, best_lora_step=step, receipt=receipt, **entries)
    record = result.model_dump_json(indent=2)
    if is_remote(prefix):
        fs, path = filesystem(f"{prefix}/{RESULT_NAME}")
        fs.pipe_file(path, record.encode())
    else:
        atomic_write_text(Path(prefix.removeprefix("file://")) / RESULT_NAME, record)
    return result


def read_result(output_prefix: str) -> ExtendSuffixResult | None:
    """The published result under `output_prefix`, or None while the job has not finished publishing."""
    fs, path = filesystem(f"{output_prefix.rstrip('/')}/{RESULT_NAME}")
    if not fs.exists(path):
        return None
    return ExtendSuffixResult.model_validate_json(fs.cat_file(path))
