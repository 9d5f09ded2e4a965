"""One loader for every model spec: it builds only the parts a caller asks for, on first use.

Encoding asks for the VAEs, text encoder, tokenizer and connectors and never touches the transformer; training asks
for the transformer alone (the cache already holds the connector outputs), so neither the VAE nor Gemma sits on the
GPU while it trains. `release(part)` drops a part as soon as a stage is done with it.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ltxcore.model.spec import ModelSpec
from ltxcore.model.vae_tiling import MAX_SIDE

PARTS = ("transformer", "vae", "audio_vae", "vocoder", "connectors", "text_encoder", "tokenizer", "scheduler")
# Libraries a model_index.json may name; anything else is refused rather than imported.
_LIBRARIES = {"diffusers": "diffusers", "transformers": "transformers", "ltx2": "diffusers.pipelines.ltx2"}
_NO_DTYPE = {"tokenizer", "scheduler"}


@dataclass
class Components:
    """Lazily built LTX-2.3 parts from one local diffusers-layout directory."""

    spec: ModelSpec
    root: Path
    parts: frozenset[str]
    device: torch.device
    dtype: torch.dtype
    vae_max_side: int = MAX_SIDE  # larger frames (in area) are VAE-encoded and decoded in tiles (vae_tiling)
    _loaded: dict[str, Any] = field(default_factory=dict, repr=False)

    def get(self, part: str) -> Any:
        assert part in PARTS, f"unknown part {part!r}"
        if part not in self.parts:
            raise KeyError(f"part {part!r} was not requested (requested: {sorted(self.parts)})")
        if part not in self._loaded:
            self._loaded[part] = _load_part(self.root, part, self.device, self.dtype)
        return self._loaded[part]

    def provide(self, part: str, module: Any) -> None:
        """Use an already built `module` for `part` (a training loop's live, adapted transformer, say)."""
        assert part in self.parts, f"part {part!r} was not requested"
        self._loaded[part] = module

    def release(self, part: str) -> None:
        """Forget a loaded part so its memory (GPU included) can be reclaimed."""
        self._loaded.pop(part, None)

    def loaded(self) -> list[str]:
        return sorted(self._loaded)

    transformer = property(lambda self: self.get("transformer"))
    vae = property(lambda self: self.get("vae"))
    audio_vae = property(lambda self: self.get("audio_vae"))
    vocoder = property(lambda self: self.get("vocoder"))
    connectors = property(lambda self: self.get("connectors"))
    text_encoder = property(lambda self: self.get("text_encoder"))
    tokenizer = property(lambda self: self.get("tokenizer"))
    scheduler = property(lambda self: self.get("scheduler"))


def load_components(
    spec: ModelSpec,
    parts: set[str] | frozenset[str],
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    vae_max_side: int = MAX_SIDE,
) -> Components:
    """Resolve `spec` to a local directory (building or syncing it if needed) and return a lazy `Components`."""
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown model parts {sorted(unknown)}; choose among {list(PARTS)}")
    root = spec.local_dir()
    index = json.loads((root / "model_index.json").read_text())
    missing = [p for p in parts if not index.get(p) or index[p][0] is None]
    if missing:
        raise ValueError(f"model {spec} has no {missing} (model_index.json at {root})")
    return Components(
        spec=spec,
        root=root,
        parts=frozenset(parts),
        device=torch.device(device),
        dtype=dtype,
        vae_max_side=vae_max_side,
    )


def _component_class(root: Path, part: str) -> type:
    library, class_name = json.loads((root / "model_index.json").read_text())[part]
    if library not in _LIBRARIES:
        raise ValueError(f"{part}: library {library!r} is not allowed in model_index.json")
    module = importlib.import_module(_LIBRARIES[library])
    if class_name == "TokenizersBackend":  # how transformers 5 records a PreTrainedTokenizerFast
        return module.AutoTokenizer
    return getattr(module, class_name)


def _load_part(root: Path, part: str, device: torch.device, dtype: torch.dtype) -> Any:
    cls = _component_class(root, part)
    if part in _NO_DTYPE:
        if part == "scheduler":
            return cls.from_pretrained(root, subfolder=part)
        return cls.from_pretrained(root / part)
    if part == "text_encoder":
        model = cls.from_pretrained(root / part, dtype=dtype, local_files_only=True)
    else:
        model = cls.from_pretrained(root, subfolder=part, torch_dtype=dtype, local_files_only=True)
    model.requires_grad_(False)
    return model.to(device).eval()


def default_dtype(device: str | torch.device) -> torch.dtype:
    """bf16 weights on a GPU; fp32 on a CPU, where bf16 matmuls are slow and tests want exact numbers."""
    return torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32
