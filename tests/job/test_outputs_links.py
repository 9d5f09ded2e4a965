"""How outputs are reached: presigned s3 links download without credentials, images embed under the size cap, and
`download_outputs` copies what a result names or says why it cannot."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from ltxcore.job.download import download_outputs
from ltxcore.job.links import image_data_uri, local_location, presigned_url
from ltxcore.store.fs import filesystem


def decode(uri: str) -> tuple[str, bytes]:
    head, _, data = uri.partition(",")
    return head, base64.b64decode(data)


def test_a_small_png_is_embedded_as_itself(tmp_path: Path) -> None:
    path = tmp_path / "small.png"
    Image.new("RGB", (200, 100), (10, 200, 30)).save(path)
    head, raw = decode(image_data_uri(path, max_bytes=50_000))
    assert head == "data:image/png;base64" and raw == path.read_bytes()


def test_a_large_png_becomes_a_jpeg_under_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "noise.png"
    pixels = np.random.default_rng(0).integers(0, 255, (1200, 1600, 3), dtype=np.uint8)  # (H, W, 3): incompressible
    Image.fromarray(pixels).save(path)
    assert path.stat().st_size > 3_000_000
    uri = image_data_uri(path, max_bytes=200_000)
    head, raw = decode(uri)
    assert head == "data:image/jpeg;base64" and len(uri) <= 200_000
    image = Image.open(io.BytesIO(raw))
    assert image.width / image.height == pytest.approx(1600 / 1200, rel=0.02) and image.width < 1600


def test_a_presigned_link_downloads_the_object_without_credentials(s3_bucket: str) -> None:
    url = f"{s3_bucket}/out/lora.safetensors"
    fs, path = filesystem(url)
    fs.pipe_file(path, b"\x00\x01lora-bytes" * 100)
    link = presigned_url(url, expiry_days=7)
    assert "X-Amz-Expires=604800" in link or "Expires=" in link
    answer = httpx.get(link)  # no AWS headers: the signature in the query string is the credential
    assert answer.status_code == 200 and answer.content == b"\x00\x01lora-bytes" * 100


def test_a_local_location_names_the_path_and_the_worker() -> None:
    assert local_location("file:///data/out/lora.safetensors", host="gpu-7") == (
        "`/data/out/lora.safetensors` on worker `gpu-7`"
    )


def test_download_copies_every_output_and_refuses_one_this_machine_cannot_see(tmp_path: Path) -> None:
    lora = tmp_path / "published" / "lora.safetensors"
    lora.parent.mkdir()
    lora.write_bytes(b"x" * 123)
    entry = {"url": lora.as_uri(), "file_name": "lora.safetensors", "file_size": 123}
    copied = download_outputs({"lora_file": entry, "video": None}, tmp_path / "here")
    assert copied == [tmp_path / "here" / "lora.safetensors"] and copied[0].read_bytes() == b"x" * 123
    gone = {**entry, "url": "file:///nonexistent/worker/lora.safetensors"}
    with pytest.raises(FileNotFoundError, match="on the worker that ran the job"):
        download_outputs({"lora_file": gone}, tmp_path / "there")
