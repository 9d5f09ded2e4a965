"""A stand-in transformer that knows the answer: it returns the exact rectified-flow velocity toward known clean
latents, so the sampler and the training loss can be checked for sign errors without any model or official code.

Convention (the official one: ltx-core `to_denoised` is x0 = x - sigma * v): on the path x = (1 - s) x0 + s noise the
velocity is v = noise - x0 = (x - x0) / s. The stand-in computes (x - target) / s from the state it is handed, per
token (0 on clean tokens, s = 0), with a target per batch row that can depend on the row's role: the prompt, the
negative prompt, the STG row (`perturbation_mask` 0) or the isolated-modality call.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import torch


@dataclass(frozen=True)
class Targets:
    """Clean tokens the stand-in steers toward, by the role of the batch row: [1, N, C] for every row, or [B, N, C]
    one per row."""

    cond: torch.Tensor
    uncond: torch.Tensor | None = None  # rows whose text is the negative prompt
    perturbed: torch.Tensor | None = None  # STG rows
    isolated: torch.Tensor | None = None  # calls with isolate_modalities=True


class ExactVelocity(torch.nn.Module):
    """Called like diffusers' `LTX2VideoTransformer3DModel` (keyword arguments, timesteps x1000)."""

    def __init__(
        self, video: Targets, audio: Targets | None = None, negative_text: torch.Tensor | None = None, flip: float = 1.0
    ) -> None:
        super().__init__()
        self.video, self.audio, self.negative_text, self.flip = video, audio, negative_text, flip
        self.config = SimpleNamespace(
            timestep_scale_multiplier=1000, cross_attn_timestep_scale_multiplier=1000, perturbed_attn=True, num_layers=2
        )
        # predict_velocity hooks these two gate embedders; the stand-in never calls them.
        self.av_cross_attn_video_a2v_gate = torch.nn.Identity()
        self.av_cross_attn_audio_v2a_gate = torch.nn.Identity()
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # a parameter, so the sampler can find the device

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32

    def forward(
        self,
        *,
        hidden_states: torch.Tensor,
        audio_hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        audio_timestep: torch.Tensor,
        isolate_modalities: bool = False,
        perturbation_mask: torch.Tensor | None = None,
        **_: object,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        roles = self._roles(encoder_hidden_states, isolate_modalities, perturbation_mask)
        video = self._velocity(hidden_states, timestep, self.video, roles)
        audio = (
            audio_hidden_states * 0
            if self.audio is None
            else self._velocity(audio_hidden_states, audio_timestep, self.audio, roles)
        )
        return video, audio

    def _roles(self, text: torch.Tensor, isolated: bool, mask: torch.Tensor | None) -> list[str]:
        roles = []
        for i in range(text.shape[0]):
            if isolated:
                roles.append("isolated")
            elif mask is not None and float(mask[i]) == 0.0:
                roles.append("perturbed")
            elif self.negative_text is not None and torch.equal(text[i], self.negative_text):
                roles.append("uncond")
            else:
                roles.append("cond")
        return roles

    def _velocity(self, x: torch.Tensor, timestep: torch.Tensor, targets: Targets, roles: list[str]) -> torch.Tensor:
        rows = []
        for i, role in enumerate(roles):
            t = getattr(targets, role) if getattr(targets, role) is not None else targets.cond  # [1 or B, N, C]
            rows.append(t[i if t.shape[0] > 1 else 0])
        target = torch.stack(rows)  # [B, N, C]
        s = (timestep.float() / self.config.timestep_scale_multiplier)[..., None]  # [B, N, 1]
        v = torch.where(s > 0, (x.float() - target) / s.clamp_min(1e-12), 0.0)  # [B, N, C]
        return self.flip * v
