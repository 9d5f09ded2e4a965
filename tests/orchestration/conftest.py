"""The deployment the orchestration tests run the job under: the tiny model at a toy bucket, local inputs allowed,
its settings in the environment as `extend-suffix serve` puts them there, and the environment restored after."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from ltxcore.job.settings import JobSettings


@pytest.fixture(scope="session")
def tiny_deployment() -> Callable[..., AbstractContextManager[JobSettings]]:
    """`with tiny_deployment(root, **overrides) as settings:` (see `_tiny_deployment`)."""
    return _tiny_deployment


@contextmanager
def _tiny_deployment(root: Path, **overrides: Any) -> Iterator[JobSettings]:
    """JobSettings for a tiny-model job under `root` (work/ and out/), with `overrides`, exported for the flow."""
    fields: dict[str, Any] = {
        "work_root": str(root / "work"),
        "output_root": str(root / "out"),
        "model": "tiny",
        "allow_local_inputs": True,
        "bucket_override": (64, 64),
    }
    settings = JobSettings(**(fields | overrides))
    old = dict(os.environ)
    os.environ.update(settings.to_env())
    try:
        yield settings
    finally:
        os.environ.clear()
        os.environ.update(old)
