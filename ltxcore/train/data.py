"""Training batches from the latent cache, in a seeded order that is a pure function of (seed, micro-batch index).

The trainer sees the cache through `LatentSource`, a deliberately narrow interface (a length and `load(i)`), so any
store of per-clip latents can feed it. Each micro-batch loads only its own clips: an epoch never holds more than one
batch of latents in memory. Because the order is computed, not iterated, a resumed run needs only the step counter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import safetensors.torch
import torch
from torch import Tensor

from ltxcore.manifests import LatentCache
from ltxcore.model.forward import TextBatch
from ltxcore.train.rng import generator


@dataclass(frozen=True)
class ClipLatents:
    """One cached clip: normalised posterior-mean latents and the prompt's connector-ready embeddings."""

    clip_id: str
    video: Tensor  # [128, F, H, W]
    audio: Tensor | None  # [8, T, 16], None when the run is video-only
    text_video: Tensor  # [L, Dv] connector output for the caption
    text_audio: Tensor  # [L, Da]
    text_mask: Tensor  # [L], 1 = attend


class LatentSource(Protocol):
    """What the trainer needs from a latent cache."""

    def __len__(self) -> int: ...

    def load(self, index: int, *, with_audio: bool) -> ClipLatents: ...


@dataclass(frozen=True)
class Batch:
    clip_ids: list[str]
    video: Tensor  # [B, 128, F, H, W]
    audio: Tensor | None  # [B, 8, T, 16]
    text: TextBatch  # video [B, L, Dv], audio [B, L, Da], mask [B, L]

    def to(self, device: torch.device) -> Batch:
        audio = None if self.audio is None else self.audio.to(device)
        return Batch(clip_ids=self.clip_ids, video=self.video.to(device), audio=audio, text=self.text.to(device))

    def pinned(self) -> Batch:
        audio = None if self.audio is None else self.audio.pin_memory()
        return Batch(clip_ids=self.clip_ids, video=self.video.pin_memory(), audio=audio, text=self.text.pinned())


def collate(clips: list[ClipLatents]) -> Batch:
    """Stack clips of one geometry (the dataset stage fits every clip to the same bucket)."""
    audio = [c.audio for c in clips]
    has_audio = [a is not None for a in audio]
    assert all(has_audio) or not any(has_audio), "a batch mixes clips with and without audio"
    return Batch(
        clip_ids=[c.clip_id for c in clips],
        video=torch.stack([c.video for c in clips]),  # [B, 128, F, H, W]
        audio=torch.stack(audio) if all(has_audio) else None,  # [B, 8, T, 16]
        text=TextBatch(
            video=torch.stack([c.text_video for c in clips]),  # [B, L, Dv]
            audio=torch.stack([c.text_audio for c in clips]),  # [B, L, Da]
            mask=torch.stack([c.text_mask for c in clips]),  # [B, L]
        ),
    )


def holdout_count(count: int, holdout: int | None) -> int:
    """Clips kept out of `count` for validation: `holdout`, or when None 10% (at least 1 once there are 4 clips)."""
    if holdout is not None:
        return holdout
    return max(count // 10, 1) if count >= 4 else 0


def split_holdout(count: int, holdout: int | None, seed: int) -> tuple[list[int], list[int]]:
    """(train, validation) clip indices. `holdout=None` keeps 10% out (at least 1 once there are 4 clips).

    With nothing held out, validation measures the first training clip, and the log marks it as the train split.
    """
    holdout = holdout_count(count, holdout)
    if holdout >= count:
        raise ValueError(f"cannot hold out {holdout} of {count} clips for validation and still train")
    order = torch.randperm(count, generator=generator(seed, "holdout")).tolist()
    held = sorted(order[:holdout])
    train = sorted(order[holdout:])
    return train, held or train[:1]


class ClipOrder:
    """Which clips micro-batch `m` holds: epoch e is a seeded permutation of the training clips, cut into batches.

    The tail that does not fill a batch is dropped for that epoch (every batch has the same shape); the next epoch's
    permutation differs, so no clip is starved.
    """

    def __init__(self, indices: list[int], batch_size: int, seed: int):
        if len(indices) < batch_size:
            raise ValueError(f"batch_size {batch_size} is larger than the {len(indices)} training clips")
        self.indices = indices
        self.batch_size = batch_size
        self.seed = seed
        self.per_epoch = len(indices) // batch_size

    def epoch_order(self, epoch: int) -> list[int]:
        perm = torch.randperm(len(self.indices), generator=generator(self.seed, "data-order", epoch))
        return [self.indices[i] for i in perm.tolist()]

    def micro_batch(self, m: int) -> list[int]:
        epoch, j = divmod(m, self.per_epoch)
        return self.epoch_order(epoch)[j * self.batch_size : (j + 1) * self.batch_size]


class CacheSource:
    """`LatentSource` over the encode stage's `LatentCache`: one safetensors file per clip and per prompt."""

    def __init__(self, cache: LatentCache):
        self.cache = cache

    def __len__(self) -> int:
        return len(self.cache.clips)

    def load(self, index: int, *, with_audio: bool) -> ClipLatents:
        clip = self.cache.clips[index]
        if with_audio and not self.cache.with_audio:
            raise ValueError("with_audio training needs a latent cache encoded with audio")
        latents = safetensors.torch.load_file(clip.path)
        text = safetensors.torch.load_file(self.cache.texts[clip.text_key])
        return ClipLatents(
            clip_id=clip.id,
            video=latents["video_latents"].float(),  # [128, F, H, W]
            audio=latents["audio_latents"].float() if with_audio else None,  # [8, T, 16]
            text_video=text["video_prompt_embeds"],  # [L, Dv]
            text_audio=text["audio_prompt_embeds"],  # [L, Da]
            text_mask=text["prompt_attention_mask"],  # [L]
        )


def as_source(cache: LatentCache | LatentSource) -> LatentSource:
    return CacheSource(cache) if isinstance(cache, LatentCache) else cache


def load_batch(source: LatentSource, indices: list[int], *, with_audio: bool) -> Batch:
    return collate([source.load(i, with_audio=with_audio) for i in indices])
