"""Memory tiers on the tiny preset: an int8 frozen base and 8-bit AdamW train the LoRA like the default tier."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ltxcore.model.loader import load_components
from ltxcore.model.spec import ModelSpec
from ltxcore.model.text import encode_prompts
from ltxcore.train import TrainConfig
from ltxcore.train.files import RunFiles
from ltxcore.train.session import Session
from ltxcore.train.synthetic import GlidingBlobs

TINY = ModelSpec.parse("tiny")


@pytest.fixture(scope="module")
def source() -> GlidingBlobs:
    text = encode_prompts(load_components(TINY, {"text_encoder", "tokenizer", "connectors"}), ["a ball moves right"])
    return GlidingBlobs(3, text)


def _run(source: GlidingBlobs, tmp: Path, **tier) -> tuple[Session, list[float]]:
    # rank 128: the tiny model's lora_A [128, 32] holds 4096 elements, the smallest torchao stores in 8 bits
    cfg = TrainConfig(
        rank=128,
        steps=3,
        learning_rate=1e-3,
        conditioning_frames=8,
        frame_rate=24,
        with_audio=True,
        warmup=0,
        holdout_clips=1,
        **tier,
    )
    session = Session.build(source, cfg, RunFiles.under(tmp), spec=TINY, device=torch.device("cpu"))
    return session, [session.train_step(s).loss for s in range(cfg.steps)]


def test_int8_base_and_8bit_adamw_train_close_to_the_default_tier(source, tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: another thread only waits on a shared machine
    try:
        _, plain_losses = _run(source, tmp_path / "plain")
        low, low_losses = _run(source, tmp_path / "low", base_quantization="int8", optimizer="adamw8bit")
    finally:
        torch.set_num_threads(threads)

    base = low.model.transformer_blocks[0].attn1.to_q.base_layer.weight
    assert type(base).__name__ == "Int8Tensor" and base.qdata.dtype == torch.int8  # stored as int8
    assert all(p.dtype == torch.float32 for p in low.params.values())  # the adapters stay fp32
    big = next(p for n, p in low.params.items() if p.numel() >= 4096)
    moments = low.optimizer.state[big]["exp_avg"]
    assert "8bit" in type(moments).__name__ and moments.codes.dtype == torch.uint8  # AdamW moments in 8 bits
    # The adapters moved away from their init (lora_B starts at 0) and the losses follow the default tier's.
    assert any(p.abs().max() > 0 for n, p in low.params.items() if "lora_B" in n)
    assert all(abs(a - b) < 0.05 * abs(b) for a, b in zip(low_losses, plain_losses, strict=True)), (
        low_losses,
        plain_losses,
    )
