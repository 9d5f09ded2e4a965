"""How a run's outputs are reached from the Prefect UI, where `file://` links and images never open.

- An `s3://` output becomes a presigned https URL (the deployment's `link_expiry_days`), so a click downloads it.
- A local output cannot be served by the UI: it is named plainly, with the worker that holds it, and
  `extend-suffix outputs RUN_ID --to DIR` fetches it.
- An image is embedded as a data URI (PNG, or a smaller JPEG when the PNG is over the cap), so it renders with no
  file server at all.
"""

from __future__ import annotations

import base64
import io
import socket
from pathlib import Path

from ltxcore.store.fs import filesystem, is_remote

SECONDS_PER_DAY = 86_400
# Artifacts live in the Prefect database and travel with every page load: keep an embedded image small.
MAX_IMAGE_BYTES = 300_000


def presigned_url(url: str, expiry_days: float) -> str:
    """A GET URL for an `s3://` object that works without credentials until it expires."""
    assert is_remote(url), f"only s3:// objects can be presigned (got {url!r})"
    fs, path = filesystem(url)
    return fs.sign(path, expiration=int(expiry_days * SECONDS_PER_DAY))


def local_location(url: str, host: str | None = None) -> str:
    """Plain text for a file on a worker's disk: its path and the machine it is on."""
    path = Path(url.removeprefix("file://"))
    return f"`{path}` on worker `{host or socket.gethostname()}`"


def image_data_uri(path: Path, max_bytes: int = MAX_IMAGE_BYTES) -> str:
    """The image as a `data:` URI of at most `max_bytes` encoded bytes: the PNG itself when it fits, else a JPEG
    shrunk until it does (a loss curve or a frame strip stays legible at a few hundred pixels)."""
    raw = path.read_bytes()
    if _encoded_size(len(raw)) <= max_bytes and raw[:8] == b"\x89PNG\r\n\x1a\n":
        return "data:image/png;base64," + base64.b64encode(raw).decode()
    from PIL import Image

    image = Image.open(io.BytesIO(raw)).convert("RGB")
    while True:
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=80)
        if _encoded_size(buf.tell()) <= max_bytes or max(image.size) <= 64:
            return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
        image = image.resize((max(1, image.width * 3 // 4), max(1, image.height * 3 // 4)))


def _encoded_size(n: int) -> int:
    return 4 * ((n + 2) // 3) + len("data:image/jpeg;base64,")
