"""Bring a finished run's outputs to this machine over the storage the deployment publishes to (`s3://`, or a
directory this machine can read), from the result record the run left (its `extend-suffix-result` artifact)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ltxcore.store.fs import filesystem, is_remote

OUTPUT_FIELDS = ("lora_file", "config_file", "video", "debug_dataset", "best_lora_file")


def download_outputs(result: dict[str, Any], dest: Path) -> list[Path]:
    """Copy every output the result names into `dest`; returns the local paths. A local output this machine cannot
    see (it is on another worker's disk) is a FileNotFoundError that says so."""
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in OUTPUT_FIELDS:
        out = result.get(name)
        if not out:
            continue
        url = out["url"]
        if not is_remote(url) and not Path(url.removeprefix("file://")).is_file():
            raise FileNotFoundError(
                f"{out['file_name']} is at {url} on the worker that ran the job, which this machine cannot read; "
                "run this there, or publish to s3:// (EXTEND_SUFFIX_OUTPUT_ROOT) to download from anywhere"
            )
        fs, path = filesystem(url)
        target = dest / out["file_name"]
        fs.get_file(path, str(target))
        if target.stat().st_size != out["file_size"]:
            raise OSError(f"{target} has {target.stat().st_size} bytes, the result says {out['file_size']}")
        copied.append(target)
    return copied
