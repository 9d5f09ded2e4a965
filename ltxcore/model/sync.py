"""Copy a model prefix from object storage to a local directory, once, and only the files that changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ltxcore.store.atomic import atomic_write_text, replace_atomically
from ltxcore.store.fs import filesystem
from ltxcore.store.stage import stage_lock

MARKER = ".synced.json"


def sync_prefix(url: str, dest: Path) -> Path:
    """Mirror `url` (an s3:// prefix) into `dest`; files already there with the same size are kept.

    Each file lands under a temporary name and is renamed into place, and the marker listing the whole prefix is
    written last, so an interrupted sync is finished by the next call instead of being mistaken for a complete one.
    """
    fs, base = filesystem(url)
    base = base.rstrip("/")
    listing = {p[len(base) + 1 :]: int(i.get("size") or 0) for p, i in fs.find(base, detail=True).items()}
    if not listing:
        raise ValueError(f"model prefix {url!r} is empty or does not exist")
    marker = dest / MARKER
    if marker.is_file() and json.loads(marker.read_text()) == listing:
        return dest
    with stage_lock(dest):  # two jobs on one worker asking for the same weights download them once
        if marker.is_file() and json.loads(marker.read_text()) == listing:
            return dest
        _download(fs, base, listing, dest)
        atomic_write_text(marker, json.dumps(listing, sort_keys=True))
    return dest


def _download(fs: Any, base: str, listing: dict[str, int], dest: Path) -> None:
    for rel, size in sorted(listing.items()):
        target = dest / rel
        if target.is_file() and target.stat().st_size == size:
            continue
        replace_atomically(target, lambda tmp, rel=rel: fs.get(f"{base}/{rel}", str(tmp)))
