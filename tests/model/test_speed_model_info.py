"""FLOPs per modality, MFU vs HFU and the known GPU peaks (meta device, no weights)."""

from __future__ import annotations

import pytest
import torch

from ltxcore.model import info
from ltxcore.model.random_weights import shrink


@pytest.fixture
def small_preset() -> str:
    info.PRESETS["test-small"] = shrink("ltx-2.3", heads=1, layers=3)
    yield "test-small"
    del info.PRESETS["test-small"]


def test_extrapolated_step_flops_equal_the_direct_count(small_preset: str) -> None:
    from diffusers import LTX2VideoTransformer3DModel

    cfg = info.PRESETS[small_preset]
    with torch.device("meta"):
        model = LTX2VideoTransformer3DModel(**cfg)
    direct = info.train_step_flops(model, small_preset, 17, 24.0, 128, 128, with_audio=True)
    fast = info.step_flops(cfg, 17, 24.0, 128, 128, with_audio=True)
    for key in ("forward", "block_forward", "train_step", "train_step_with_checkpointing"):
        assert fast[key] == direct[key], key
    assert direct["train_step_with_checkpointing"] == direct["train_step"] + 3 * direct["block_forward"]
    # LoRA backward: activation gradients through the frozen base plus adapter gradients, none for the text K/V
    assert 1.5 < direct["train_step"] / direct["forward"] < 2.5


def test_model_info_counts_a_video_only_step_unless_audio_is_asked(small_preset: str) -> None:
    video = info.model_info(small_preset, frames=17, flops_bucket=(128, 128))["train_step_flops"]
    audio = info.model_info(small_preset, frames=17, flops_bucket=(128, 128), with_audio=True)["train_step_flops"]
    assert (video["with_audio"], video["audio_tokens"], audio["audio_tokens"]) == (False, 0, 18)
    assert audio["train_step"] > video["train_step"] > 0
    assert set(video["seconds_at_40pct_mfu"]) == {"H100 SXM", "H100 PCIe", "H200", "A100"}


def test_mfu_counts_model_flops_and_hfu_adds_the_recomputed_forwards() -> None:
    # The full-size video-only step: 451.7 TFLOP, 4.26 TFLOP per block forward, 48 blocks recomputed, 1.2 s on H100.
    u = info.utilisation(451_717_310_578_688, 4_258_721_964_032, 48, 1.2, 989.4)
    assert u["mfu"] == round(451.717310578688 / 1.2 / 989.4, 4) == 0.3805
    assert u["hfu"] == round((451.717310578688 + 48 * 4.258721964032) / 1.2 / 989.4, 4) == 0.5526
    assert info.utilisation(10**15, 10**13, 0, 1.0, 1000.0) == {"mfu": 1.0, "hfu": 1.0}


def test_known_gpu_peaks_by_device_name() -> None:
    assert info.peak_tflops_of("NVIDIA H100 80GB HBM3") == 989.4
    assert info.peak_tflops_of("NVIDIA H100 PCIe") == 756.5
    assert info.peak_tflops_of("NVIDIA H200") == 989.4
    assert info.peak_tflops_of("NVIDIA A100-SXM4-80GB") == 312.0
    assert info.peak_tflops_of("NVIDIA GeForce RTX 4090") is None
