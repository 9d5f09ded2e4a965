"""Atomic, verifiable training checkpoints, and finding the newest one that is whole.

A checkpoint is two files: `step-NNNNNNNN.pt` (LoRA weights in fp32, optimizer state, step, RNG states, the config) and
its sidecar `step-NNNNNNNN.json` (step, size and sha256 of the .pt). Both are written atomically, the sidecar last, so
a checkpoint without a sidecar was never finished. On resume the sidecar's hash is checked before `torch.load`
(weights only); a checkpoint that fails either check is skipped with a warning and the next older one is tried.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ltxcore.store.atomic import atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)

# What a damaged checkpoint can raise while being read: I/O, a bad sidecar, a truncated or garbled zip or pickle.
_CORRUPT = (OSError, ValueError, KeyError, EOFError, RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile)


@dataclass(frozen=True)
class TrainState:
    """Everything a run needs to continue exactly where it stopped."""

    step: int  # optimizer steps completed
    lora: dict[str, torch.Tensor]  # trainable LoRA parameters by name, fp32
    optimizer: dict[str, Any]
    rng: dict[str, Any]
    config: dict[str, Any]


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def save_checkpoint(directory: Path, state: TrainState, keep: int) -> Path:
    """Write a checkpoint atomically, then delete all but the newest `keep` complete ones."""
    buf = io.BytesIO()
    torch.save(
        {
            "step": state.step,
            "lora": state.lora,
            "optimizer": state.optimizer,
            "rng": state.rng,
            "config": state.config,
        },
        buf,
    )
    data = buf.getvalue()
    name = checkpoint_name(state.step)
    atomic_write_bytes(directory / f"{name}.pt", data)
    sidecar = {"step": state.step, "file": f"{name}.pt", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    atomic_write_text(directory / f"{name}.json", json.dumps(sidecar))
    _prune(directory, keep)
    return directory / f"{name}.pt"


def load_latest(directory: Path) -> TrainState | None:
    """The newest whole checkpoint in `directory`, or None. Damaged ones are skipped with a warning."""
    for sidecar in sorted(directory.glob("step-*.json"), reverse=True):
        try:
            return _load(sidecar)
        except _CORRUPT as exc:
            log.warning(
                "skipping damaged checkpoint %s: %s: %s", sidecar.with_suffix(".pt").name, type(exc).__name__, exc
            )
    return None


def _load(sidecar: Path) -> TrainState:
    meta = json.loads(sidecar.read_text())
    data = (sidecar.parent / meta["file"]).read_bytes()
    if len(data) != meta["size"] or hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise ValueError("size or sha256 does not match its sidecar (half-written or altered)")
    raw = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if raw["step"] != meta["step"]:
        raise ValueError(f"holds step {raw['step']} but its sidecar says {meta['step']}")
    return TrainState(
        step=raw["step"], lora=raw["lora"], optimizer=raw["optimizer"], rng=raw["rng"], config=raw["config"]
    )


def _prune(directory: Path, keep: int) -> None:
    sidecars = sorted(directory.glob("step-*.json"), reverse=True)
    for sidecar in sidecars[keep:]:
        sidecar.unlink(missing_ok=True)  # the sidecar first: a half-deleted checkpoint must not look whole
        sidecar.with_suffix(".pt").unlink(missing_ok=True)
    complete = {s.stem for s in sidecars[:keep]}
    for orphan in directory.glob("step-*.pt"):  # left by a crash between the two writes
        if orphan.stem not in complete:
            orphan.unlink(missing_ok=True)
