"""Meta-device accounting of the full-size LTX-2.3 transformer (no weights are needed or downloaded)."""

from __future__ import annotations

from ltxcore.model.info import model_info


def test_full_size_23_counts() -> None:
    info = model_info("ltx-2.3", flops_bucket=None)
    assert info["transformer_params"] == 18_988_838_144  # ~19.0 B, 35.4 GiB in bf16
    assert info["transformer_bf16_bytes"] == 2 * info["transformer_params"]
    assert info["lora_params_per_rank"][32] == 213_909_504  # attention q/k/v/out of all six attentions x 48 blocks
    assert info["lora_params_per_rank_with_ff"][32] - info["lora_params_per_rank"][32] == 94_371_840
    assert info["lora_params_per_rank"][64] == 2 * info["lora_params_per_rank"][32]
    assert info["tokens_per_bucket"]["medium 1:1 768x768"] == {"video_tokens": 6912, "audio_tokens": 93}
    assert info["tokens_per_bucket"]["high 16:9 960x544"]["video_tokens"] == 6120
    assert "train_step_flops" not in info
