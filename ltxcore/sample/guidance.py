"""Guided denoising: CFG with the negative prompt, STG, modality guidance and the std rescale, in x0 space (the
official MultiModalGuider).

    x0 = c + (cfg - 1)(c - u) + stg (c - p) + (mod - 1)(c - i),   then   x0 <- x0 * (r * std(c) / std(x0) + 1 - r)

c: conditional, u: negative prompt, p: conditional with self-attention skipped in the STG blocks (diffusers
`perturbed_attn`), i: conditional with the audio<->video cross-attention off (diffusers `isolate_modalities`), which
pushes each modality toward what the other one says: the lip-sync / sound-on-action term. Video and audio get their
own CFG scale (official validation: 3.0 and 7.0) and share STG, modality guidance (official 3.0) and r.
The cond, uncond and STG rows run as ONE batched transformer call, with `perturbation_mask` 0 on the STG row only;
isolation is a whole-call switch in diffusers, so the isolated row is a second call (only when audio is generated:
without audio there is nothing to isolate from). Velocity becomes x0 with each token's own sigma, so clean suffix
tokens (sigma 0) come out exactly as they went in, in every pass: guidance cannot move them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from diffusers.pipelines.ltx2.pipeline_ltx2 import rescale_noise_cfg

from ltxcore.model.forward import TextBatch, VideoGeometry, predict_velocity

OFFICIAL_STG_BLOCK = 28  # LTX-2.3 (48 blocks); 2.0 used 29


@dataclass(frozen=True)
class Guidance:
    """Guidance scales. cfg <= 1 turns CFG off, stg_scale 0 turns STG off; each saves one batch row per step."""

    cfg: float = 3.0
    audio_cfg: float = 7.0
    stg_scale: float = 1.0
    rescale: float = 0.7
    stg_blocks: tuple[int, ...] | None = None  # None: block 28, or the last block of a shallower model
    modality: float = 3.0  # modality guidance for both modalities when audio is generated; 1.0 turns it off

    @property
    def uses_cfg(self) -> bool:
        return self.cfg > 1.0 or self.audio_cfg > 1.0

    @property
    def uses_stg(self) -> bool:
        return self.stg_scale > 0.0

    def uses_modality(self, with_audio: bool) -> bool:
        return with_audio and self.modality != 1.0

    def blocks_for(self, transformer: torch.nn.Module) -> list[int]:
        """The STG blocks, checked against the model: without `perturbed_attn` STG would silently do nothing."""
        if not transformer.config.perturbed_attn:
            raise ValueError("stg_scale > 0 needs a transformer built with perturbed_attn=True (STG would be a no-op)")
        layers = transformer.config.num_layers
        blocks = list(self.stg_blocks) if self.stg_blocks is not None else [min(OFFICIAL_STG_BLOCK, layers - 1)]
        if not blocks or any(not 0 <= b < layers for b in blocks):
            raise ValueError(f"STG blocks {blocks} must lie in 0..{layers - 1}")
        return blocks


@dataclass(frozen=True)
class Noisy:
    """One modality's current state: tokens [1, N, C] and each token's sigma [1, N] (0 on clean suffix tokens)."""

    x: torch.Tensor
    sigmas: torch.Tensor


def pass_rows(guidance: Guidance) -> list[str]:
    """Which batch rows a step runs, in order."""
    return ["cond", *(["uncond"] if guidance.uses_cfg else []), *(["stg"] if guidance.uses_stg else [])]


def guided_x0(
    transformer: torch.nn.Module,
    video: Noisy,
    audio: Noisy | None,
    sigma: float,
    text: TextBatch,
    geometry: VideoGeometry,
    guidance: Guidance,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Guided x0 estimates: video [1, Nv, C] and audio [1, Na, C] (None without audio), float32.

    `text` holds two rows: the prompt, then the negative prompt.
    """
    rows = pass_rows(guidance)
    p = len(rows)
    text_rows = torch.tensor([1 if r == "uncond" else 0 for r in rows], device=text.video.device)
    batch_text = TextBatch(video=text.video[text_rows], audio=text.audio[text_rows], mask=text.mask[text_rows])
    stg = "stg" in rows
    dtype = transformer.dtype
    v_vel, a_vel = predict_velocity(
        transformer,
        video.x.expand(p, -1, -1).to(dtype),
        video.sigmas.expand(p, -1),  # [P, Nv, C], [P, Nv]
        video.x.new_full((p,), sigma),
        batch_text,
        geometry,
        audio=None if audio is None else audio.x.expand(p, -1, -1).to(dtype),  # [P, Na, C]
        audio_sigmas=None if audio is None else audio.sigmas.expand(p, -1),  # [P, Na]
        audio_sigma=None if audio is None else video.x.new_full((p,), sigma),
        stg_blocks=guidance.blocks_for(transformer) if stg else None,
        perturbation_mask=torch.tensor([0.0 if r == "stg" else 1.0 for r in rows], device=video.x.device, dtype=dtype)
        if stg
        else None,
    )
    video_x0s, audio_x0s = _to_x0(video, v_vel), None if audio is None else _to_x0(audio, a_vel)  # [P, N, C]
    if guidance.uses_modality(audio is not None):
        assert audio is not None
        iso_v, iso_a = predict_velocity(
            transformer,
            video.x.to(dtype),
            video.sigmas,
            video.x.new_full((1,), sigma),
            TextBatch(video=text.video[:1], audio=text.audio[:1], mask=text.mask[:1]),
            geometry,
            audio=audio.x.to(dtype),
            audio_sigmas=audio.sigmas,
            audio_sigma=video.x.new_full((1,), sigma),
            isolate_modalities=True,
        )  # [1, Nv, C], [1, Na, C]
        rows = [*rows, "isolated"]
        video_x0s = torch.cat([video_x0s, _to_x0(video, iso_v)])  # [P + 1, Nv, C]
        audio_x0s = torch.cat([audio_x0s, _to_x0(audio, iso_a)])  # [P + 1, Na, C]
    video_x0 = _combine(video_x0s, rows, guidance.cfg, guidance)
    if audio_x0s is None:
        return video_x0, None
    return video_x0, _combine(audio_x0s, rows, guidance.audio_cfg, guidance)


def _to_x0(state: Noisy, velocity: torch.Tensor) -> torch.Tensor:
    """x0 = x - sigma_token * v, per token: [P, N, C]. Suffix tokens (sigma 0) give x0 = x exactly."""
    return state.x.float() - state.sigmas.float()[..., None] * velocity.float()  # [P, N, C]


def _combine(x0: torch.Tensor, rows: Sequence[str], cfg: float, guidance: Guidance) -> torch.Tensor:
    """[P, N, C] per-pass x0 -> [1, N, C] guided x0 (delta form, as the official guider and diffusers)."""
    cond = x0[rows.index("cond")][None]  # [1, N, C]
    guided = cond.clone()
    if "uncond" in rows and cfg > 1.0:
        guided += (cfg - 1.0) * (cond - x0[rows.index("uncond")][None])
    if "stg" in rows:
        guided += guidance.stg_scale * (cond - x0[rows.index("stg")][None])
    if "isolated" in rows:
        guided += (guidance.modality - 1.0) * (cond - x0[rows.index("isolated")][None])
    if guidance.rescale > 0 and len(rows) > 1:
        guided = rescale_noise_cfg(guided, cond, guidance_rescale=guidance.rescale)
    return guided
