"""Cross-attention without a mask when the text mask is all ones (LTX-2.3), and the CUDA kernel preference."""

from __future__ import annotations

import torch

from ltxcore.model.forward import CUDA_SDPA_PREFERENCE, TextBatch, VideoGeometry, predict_velocity
from ltxcore.model.random_weights import random_transformer, shrink

GEO = VideoGeometry(frames=3, height=2, width=2, fps=24.0)


def small_23() -> torch.nn.Module:
    """The 2.3 configuration (gated attention, cross-attention AdaLN, split RoPE) at one head per stream."""
    return random_transformer(shrink("ltx-2.3", heads=1, layers=2), device="cpu", dtype=torch.float32, seed=3)


def call(model: torch.nn.Module, mask: torch.Tensor, full_mask: bool | None = None) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    b, length = mask.shape
    text = TextBatch(
        video=torch.randn(b, length, 128, generator=g),
        audio=torch.randn(b, length, 64, generator=g),
        mask=mask,
        full_mask=full_mask,
    )
    sig = torch.tensor([0.6, 0.3])
    video_sigmas = sig[:, None].expand(b, GEO.tokens).clone()
    video_sigmas[:, -4:] = 0.0  # a clean suffix latent frame
    video, audio = predict_velocity(
        model,
        torch.randn(b, GEO.tokens, 128, generator=g),
        video_sigmas,
        sig,
        text,
        GEO,
        torch.randn(b, 9, 128, generator=g),
        torch.full((b, 9), 0.5),
        torch.full((b,), 0.5),
    )
    return video, audio


def masks_seen(model: torch.nn.Module) -> tuple[list, list]:
    """Record the attention_mask each text cross-attention (video attn2, audio_attn2) is called with."""
    seen: list = []
    handles = []
    for block in model.transformer_blocks:
        for attn in (block.attn2, block.audio_attn2):
            handles.append(
                attn.register_forward_pre_hook(
                    lambda _m, _a, kw: seen.append(kw.get("attention_mask")), with_kwargs=True
                )
            )
    return seen, handles


def test_all_ones_text_mask_reaches_cross_attention_as_none_with_unchanged_outputs() -> None:
    model = small_23()
    ones = torch.ones(2, 128, dtype=torch.int64)
    seen, handles = masks_seen(model)
    video, audio = call(model, ones)
    for h in handles:
        h.remove()
    assert len(seen) == 4 and all(m is None for m in seen)  # 2 blocks x (video, audio) cross-attention
    # The old path: the same all-ones mask forced through as a zero bias (full_mask=False says "not all ones").
    seen_old, handles = masks_seen(model)
    video_bias, audio_bias = call(model, ones, full_mask=False)
    for h in handles:
        h.remove()
    assert all(m is not None and float(m.abs().max()) == 0.0 for m in seen_old)  # a bias of zeros
    # Adding a zero bias is exact, so on the CPU the two paths agree bit for bit.
    assert torch.equal(video, video_bias) and torch.equal(audio, audio_bias)
    assert video.abs().max().item() > 0.1  # a real output, not zeros


def test_a_padded_text_mask_is_still_applied() -> None:
    model = small_23()
    padded = torch.ones(2, 128, dtype=torch.int64)
    padded[:, :64] = 0  # left padding, as a prompt without connector registers would have
    seen, handles = masks_seen(model)
    masked, _ = call(model, padded)
    for h in handles:
        h.remove()
    assert all(m is not None and float(m.min()) == -10000.0 for m in seen)
    unmasked, _ = call(model, torch.ones(2, 128, dtype=torch.int64))
    assert (masked - unmasked).abs().max().item() > 1e-3  # the mask changes what the video attends to


def test_full_mask_is_decided_on_the_host_copy_and_carried_by_to_and_pinned() -> None:
    ones = TextBatch(video=torch.zeros(1, 4, 2), audio=torch.zeros(1, 4, 2), mask=torch.ones(1, 4))
    padded = TextBatch(video=torch.zeros(1, 4, 2), audio=torch.zeros(1, 4, 2), mask=torch.tensor([[0, 1, 1, 1]]))
    assert ones.full_mask is None and ones.to("cpu").full_mask is True and padded.to("cpu").full_mask is False
    assert TextBatch(video=ones.video, audio=ones.audio, mask=torch.ones(1, 4, device="meta")).attends_everywhere()


def test_cuda_attention_prefers_cudnn_then_flash_and_keeps_math_as_the_last_resort() -> None:
    from torch.nn.attention import SDPBackend

    assert CUDA_SDPA_PREFERENCE[:2] == [SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION]
    assert CUDA_SDPA_PREFERENCE[-1] == SDPBackend.MATH and len(set(CUDA_SDPA_PREFERENCE)) == 4
