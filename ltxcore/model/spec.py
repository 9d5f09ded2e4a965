"""What model to use: `tiny`, `toy`, a local directory, or an `s3://` prefix, each holding LTX-2.3 in diffusers layout.

Every spec resolves to a local directory (the tiny and toy presets are built into the cache once, an S3 prefix is synced
there),
so the loader has one code path. The fingerprint names the weights without reading them: it hashes the JSON configs
and every file's relative path and size, which changes whenever a component is swapped or re-converted.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ltxcore.settings import tools
from ltxcore.store.fs import filesystem, is_remote

TINY = "tiny"
TOY = "toy"  # LTX-2.3 classes at CPU size, trained on the toy world (ltxcore.model.toy)
PRESETS = (TINY, TOY)


def cache_root() -> Path:
    """Where built presets and synced model copies live: $EXTEND_SUFFIX_CACHE or ~/.cache/extend-suffix."""
    return tools().cache


class ModelSpec(BaseModel):
    """A parsed model spec. `source` is "tiny", an absolute local directory, or an s3:// prefix (no trailing slash)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str  # "tiny", "toy", an absolute local directory, or an s3:// prefix (no trailing slash)
    seed: int = 0  # tiny preset only: the seed its random weights come from

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        text = text.strip()
        if not text:
            raise ValueError("model spec must not be empty: use 'tiny', 'toy', a directory, or an s3:// prefix")
        if text in PRESETS:
            return cls(source=text)
        if text.startswith("s3://"):
            if len(text.rstrip("/")) <= len("s3://"):
                raise ValueError(f"model spec {text!r} names no bucket")
            return cls(source=text.rstrip("/"))
        if "://" in text and not text.startswith("file://"):
            raise ValueError(f"model spec {text!r}: only 'tiny', 'toy', a local directory or s3:// are supported")
        path = Path(text.removeprefix("file://")).expanduser().resolve()
        if not (path / "model_index.json").is_file():
            raise ValueError(f"model spec {text!r}: no model_index.json there (expected a diffusers-layout directory)")
        return cls(source=str(path))

    @property
    def is_tiny(self) -> bool:
        return self.source == TINY

    @property
    def is_preset(self) -> bool:
        """Built here from code (and, for toy, shipped weights): nothing to download or sync."""
        return self.source in PRESETS

    def __str__(self) -> str:
        return self.source if not self.is_tiny or self.seed == 0 else f"tiny(seed={self.seed})"

    def local_dir(self) -> Path:
        """A local diffusers-layout directory holding this model, building or syncing it on first use."""
        if self.is_tiny:
            from ltxcore.model.tiny import ensure_tiny

            return ensure_tiny(cache_root() / "models", seed=self.seed)
        if self.source == TOY:
            from ltxcore.model.toy import ensure_toy

            return ensure_toy(cache_root() / "models")
        if is_remote(self.source):
            from ltxcore.model.sync import sync_prefix

            key = hashlib.sha256(self.source.encode()).hexdigest()[:16]
            return sync_prefix(self.source, cache_root() / "models" / f"s3-{key}")
        return Path(self.source)

    def fingerprint(self) -> str:
        """A stable hash of the weights' identity: configs plus every file's path and size (no weight reads)."""
        root = str(self.local_dir()) if self.is_preset else self.source
        return directory_fingerprint(root)


def directory_fingerprint(url: str) -> str:
    fs, base = filesystem(url)
    entries = []
    for path, info in sorted(fs.find(base, detail=True).items()):
        rel = path[len(base.rstrip("/")) + 1 :] if path.startswith(base.rstrip("/")) else path
        if rel.startswith(".") or "/." in rel:
            continue  # markers and temporary files are not part of the model
        entry: dict = {"path": rel, "size": int(info.get("size") or 0)}
        if rel.endswith(".json"):
            with fs.open(path, "rb") as f:
                entry["json"] = json.loads(f.read())
        entries.append(entry)
    if not entries:
        raise ValueError(f"model at {url!r} holds no files")
    return hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()[:24]
