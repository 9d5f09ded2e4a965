"""The validation prompts' and the negative prompt's embeddings, as a stage of their own.

Training needs only the captions' embeddings, so the training latent cache holds only those (and the default negative
prompt and ""): changing the validation prompts, the negative prompt or the validation clips then re-encodes no clip
and retrains nothing. This stage adds the validation texts to a copy of the training cache's manifest (the clip
latents stay where they are), for the previews and the reel, which sample without the text encoder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ltxcore.manifests import LatentCache
from ltxcore.model.cache import DEFAULT_BUDGET, _encode_texts, text_key
from ltxcore.model.loader import load_components
from ltxcore.model.spec import ModelSpec
from ltxcore.store.stage import compute_once
from ltxcore.store.stages import TEXTS

MANIFEST = "latent_cache.json"


def add_prompt_embeddings(
    cache: LatentCache,
    spec: ModelSpec,
    out_root: Path,
    *,
    negative_prompt: str,
    prompts: Sequence[str],
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> LatentCache:
    """`cache` with `negative_prompt` and `prompts` embedded too (those it lacks, under `validation-texts/<key>/`)."""
    wanted = sorted({negative_prompt.strip(), *(p.strip() for p in prompts)})
    todo = [p for p in wanted if p not in cache.prompts]
    root = TEXTS.dir(out_root, cache=cache, prompts=wanted)

    def run(out: Path) -> LatentCache:
        texts: dict[str, str] = {}
        if todo:
            components = load_components(spec, {"text_encoder", "tokenizer", "connectors"}, device, dtype)
            texts = {k: str(p) for k, p in _encode_texts(components, todo, out / "texts", DEFAULT_BUDGET).items()}
        return cache.model_copy(
            update={
                "texts": cache.texts | texts,
                "prompts": cache.prompts | {p: text_key(p) for p in todo},
                "negative_prompt": negative_prompt.strip(),
            }
        )

    return compute_once(root, LatentCache, run, manifest=MANIFEST)
