"""`encode_dataset`: a fitted dataset -> a latent cache, content-addressed and atomic like every stage.

Layout under `<out_root>/encode/<key>/`: `clips/<clip id>.safetensors`, `texts/<text key>.safetensors`, and
`latent_cache.json`, written last. The key hashes the dataset manifest, the model fingerprint, the dtype and the
prompts, so a re-run with the same inputs returns the finished manifest at once; a crashed run resumes file by file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import safetensors.torch
import torch

from ltxcore import geometry
from ltxcore.manifests import DatasetManifest, LatentCache, LatentClip
from ltxcore.model.encode import batch_size_for, encode_audio, encode_video
from ltxcore.model.forward import TextBatch
from ltxcore.model.loader import Components, load_components
from ltxcore.model.spec import ModelSpec
from ltxcore.model.text import encode_prompts, prompt_bytes
from ltxcore.prompts import DEFAULT_NEGATIVE_PROMPT
from ltxcore.store.atomic import atomic_write_bytes
from ltxcore.store.stage import compute_once
from ltxcore.store.stages import ENCODE

MANIFEST = "latent_cache.json"
DEFAULT_BUDGET = 4 << 30


Progress = Callable[[int, int, str], None]


def text_key(prompt: str) -> str:
    return hashlib.sha256(prompt.strip().encode()).hexdigest()[:16]


def cached_text(cache: LatentCache, prompts: Sequence[str]) -> TextBatch | None:
    """The cache's connector outputs for `prompts`, one row each in order (video [N, L, Dv], audio [N, L, Da],
    mask [N, L], on the CPU), or None if one of them was not encoded. The sampler uses these instead of loading the
    text encoder: validation prompts and the negative prompt are encoded with the dataset for this reason."""
    keys = [cache.prompts.get(p.strip()) for p in prompts]
    if any(k is None or k not in cache.texts for k in keys):
        return None
    rows = [safetensors.torch.load_file(cache.texts[k]) for k in keys if k is not None]
    return TextBatch(
        video=torch.stack([r["video_prompt_embeds"] for r in rows]),  # [N, L, Dv]
        audio=torch.stack([r["audio_prompt_embeds"] for r in rows]),  # [N, L, Da]
        mask=torch.stack([r["prompt_attention_mask"] for r in rows]),
    )  # [N, L]


def encode_dataset(
    manifest: DatasetManifest,
    spec: ModelSpec,
    out_root: Path,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    memory_budget_bytes: int = DEFAULT_BUDGET,
    negative_prompt: str = DEFAULT_NEGATIVE_PROMPT,
    extra_prompts: Sequence[str] = (),
    progress: Progress | None = None,
) -> LatentCache:
    """Encode every clip (video, audio when `with_audio`) and every unique prompt once; return the cache manifest.

    Prompts encoded: each caption, `negative_prompt`, the empty prompt and `extra_prompts` (e.g. validation prompts),
    so the sampler finds all it needs here. Prompts are encoded in batches sized so that their estimated peak stays in
    `memory_budget_bytes`; clips one at a time. `progress(done, total, message)` is called after every clip.
    """
    if not manifest.clips:
        raise ValueError("the dataset has no clips to encode")
    if manifest.with_audio and any(c.audio_path is None for c in manifest.clips):
        raise ValueError("with_audio is set but some clips have no audio file")
    prompts = sorted(
        {c.caption.strip() for c in manifest.clips} | {negative_prompt.strip(), ""} | {p.strip() for p in extra_prompts}
    )
    root = ENCODE.dir(out_root, dataset=manifest, model=spec.fingerprint(), dtype=str(dtype), prompts=prompts)
    return compute_once(
        root,
        LatentCache,
        lambda out: _encode(
            manifest, spec, out, device, dtype, memory_budget_bytes, negative_prompt, prompts, progress
        ),
        manifest=MANIFEST,
    )


def _encode(
    manifest: DatasetManifest,
    spec: ModelSpec,
    root: Path,
    device: str | torch.device,
    dtype: torch.dtype,
    memory_budget_bytes: int,
    negative_prompt: str,
    prompts: list[str],
    progress: Progress | None,
) -> LatentCache:
    parts = {"vae", "text_encoder", "tokenizer", "connectors"} | ({"audio_vae"} if manifest.with_audio else set())
    components = load_components(spec, parts, device, dtype)
    texts = _encode_texts(components, prompts, root / "texts", memory_budget_bytes)
    for part in ("text_encoder", "connectors", "tokenizer"):
        components.release(part)
    clips = _encode_clips(components, manifest, root / "clips", progress)
    shapes, dtypes = _describe(clips[0], next(iter(texts.values())))
    cache = LatentCache(
        root=str(root),
        clips=clips,
        texts={k: str(p) for k, p in texts.items()},
        prompts={p: text_key(p) for p in prompts},
        negative_prompt=negative_prompt.strip(),
        model_fingerprint=spec.fingerprint(),
        shapes=shapes,
        dtypes=dtypes,
        num_frames=manifest.num_frames,
        fps=manifest.fps,
        width=manifest.width,
        height=manifest.height,
        conditioning_frames=manifest.conditioning_frames,
        with_audio=manifest.with_audio,
        suffix_latent_frames=geometry.suffix_latent_frames(manifest.conditioning_frames),
        audio_suffix_steps=geometry.audio_suffix_steps(manifest.conditioning_frames, manifest.fps),
    )
    return cache


def _encode_texts(components: Components, prompts: list[str], out_dir: Path, budget: int) -> dict[str, Path]:
    paths = {text_key(p): out_dir / f"{text_key(p)}.safetensors" for p in prompts}
    todo = [p for p in prompts if not paths[text_key(p)].is_file()]
    if todo:
        step = batch_size_for(budget, prompt_bytes(components), len(todo))
        for i in range(0, len(todo), step):
            chunk = todo[i : i + step]
            batch = encode_prompts(components, chunk)
            for j, prompt in enumerate(chunk):
                tensors = {
                    "video_prompt_embeds": batch.video[j],
                    "audio_prompt_embeds": batch.audio[j],
                    "prompt_attention_mask": batch.mask[j],
                }
                _save(paths[text_key(prompt)], tensors, {"prompt": prompt})
    return paths


def _encode_clips(
    components: Components, manifest: DatasetManifest, out_dir: Path, progress: Progress | None
) -> list[LatentClip]:
    """One clip at a time, each written before the next is read: memory stays that of one clip whatever the dataset's
    size (batching clips bought nothing measurable on the CPU, and at training sizes one clip fills a GPU's budget)."""
    seconds = manifest.num_frames / manifest.fps
    entries = [
        LatentClip(id=c.id, path=str(out_dir / f"{c.id}.safetensors"), text_key=text_key(c.caption))
        for c in manifest.clips
    ]
    for done, (clip, entry) in enumerate(zip(manifest.clips, entries, strict=True), start=1):
        if Path(entry.path).is_file():  # a crashed run resumes file by file
            continue
        if (clip.num_frames, clip.width, clip.height) != (manifest.num_frames, manifest.width, manifest.height):
            raise ValueError(f"clip {clip.id} is {clip.width}x{clip.height}x{clip.num_frames}, not the dataset's")
        tensors = {"video_latents": encode_video(components, clip.video_path)}  # [128, F', H', W']
        if manifest.with_audio:
            assert clip.audio_path is not None
            tensors["audio_latents"] = encode_audio(components, clip.audio_path, seconds)  # [8, T, 16]
        _save(Path(entry.path), tensors, {"clip_id": clip.id, "text_key": entry.text_key})
        if progress is not None:
            progress(done, len(entries), "clips encoded")
    return entries


def _save(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    data = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    atomic_write_bytes(path, safetensors.torch.save(data, metadata=metadata))


def _describe(clip: LatentClip, text_path: Path) -> tuple[dict[str, list[int]], dict[str, str]]:
    shapes, dtypes = {}, {}
    for path in (Path(clip.path), text_path):
        for name, tensor in safetensors.torch.load_file(path).items():
            shapes[name] = list(tensor.shape)
            dtypes[name] = str(tensor.dtype).removeprefix("torch.")
    return shapes, dtypes
