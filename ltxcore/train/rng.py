"""Randomness that resumes exactly.

Everything the objective draws (data order, sigmas, noise) comes from generators seeded by `derive_seed(seed, what,
step)`: a pure function of the run's seed and the step, so a resumed run draws what an uninterrupted one would without
restoring any generator. The process-wide generators (torch, numpy, python) are still captured into every checkpoint
and restored, for anything outside our control that draws from them (dropout, a library's own sampling).
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

import numpy as np
import torch


def derive_seed(seed: int, *tags: object) -> int:
    """A 63-bit seed for one purpose and step: stable across processes and Python versions (no `hash()`)."""
    digest = hashlib.sha256(repr((seed, *tags)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def generator(seed: int, *tags: object) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed(seed, *tags))


def capture_rng() -> dict[str, Any]:
    """The process-wide RNG states, as tensors and plain values (loadable with `torch.load(weights_only=True)`)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": _to_lists(random.getstate()),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    keys = np_state["keys"].numpy().astype(np.uint32)
    np.random.set_state((np_state["kind"], keys, np_state["pos"], np_state["has_gauss"], np_state["gauss"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_lists(value: Any) -> Any:
    return [_to_lists(v) for v in value] if isinstance(value, tuple) else value
