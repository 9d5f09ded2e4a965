"""Publishing writes every output, then the result record; a fault mid-upload leaves no result record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ltxcore.job.publish import publish, read_result
from ltxcore.store.fs import filesystem


def outputs(tmp_path: Path) -> dict[str, Path]:
    lora = tmp_path / "lora.safetensors"
    lora.write_bytes(b"\0" * 4096)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"training_type": "extend-suffix"}))
    return {"lora_file": lora, "config_file": config}


def test_local_publish_writes_files_then_the_record(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = publish(str(out), billable_units=2000, **outputs(tmp_path))
    assert (out / "lora.safetensors").stat().st_size == 4096
    assert result.lora_file.file_size == 4096 and result.lora_file.url == (out / "lora.safetensors").as_uri()
    assert result.config_file.content_type == "application/json" and result.video is None
    assert read_result(str(out)) == result and result.billable_units == 2000


def test_s3_publish_round_trips_through_the_loopback_server(tmp_path: Path, s3_bucket: str) -> None:
    prefix = f"{s3_bucket}/runs/abc"
    result = publish(prefix, billable_units=100, **outputs(tmp_path))
    fs, path = filesystem(f"{prefix}/lora.safetensors")
    assert fs.info(path)["size"] == 4096
    assert result.lora_file.url == f"{prefix}/lora.safetensors"
    assert read_result(prefix) == result


def test_a_fault_in_the_upload_leaves_no_result_record(tmp_path: Path, s3_bucket: str) -> None:
    prefix = f"{s3_bucket}/runs/broken"
    missing_video = tmp_path / "gone.mp4"  # the upload of this file fails half-way through the publish
    with pytest.raises(FileNotFoundError):
        publish(prefix, billable_units=100, video=missing_video, **outputs(tmp_path))
    assert read_result(prefix) is None
    fs, path = filesystem(prefix)
    assert "result.json" not in [p.rsplit("/", 1)[-1] for p in fs.find(path)]
