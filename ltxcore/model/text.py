"""Prompts -> the text embeddings the transformer cross-attends to.

What is cached, and why: the connector OUTPUTS (video [L, Dv], audio [L, Da], mask [L]), not Gemma's stacked hidden
states ([L, 3840 x 49] = 385 MB per 2.3 prompt in bf16) and not the projected features before the connectors. While
the connectors stay frozen (this trainer never adapts them) their output is a pure function of the prompt, so caching
it is equivalent to the official cache-then-run-connectors path, costs the same 12.6 MB per 1024-token prompt in bf16,
and lets training load the transformer alone. A LoRA on the connectors would need the projected features instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ltxcore.model.forward import TextBatch
from ltxcore.model.loader import Components

MAX_TEXT_TOKENS = 1024  # LTX-2.3's prompt length; the tiny preset's tokenizer caps it lower (model_max_length)


def text_length(components: Components) -> int:
    """Prompt length in tokens: 1024, or the tokenizer's own limit when lower; a multiple of the connector registers."""
    length = min(MAX_TEXT_TOKENS, int(components.tokenizer.model_max_length))
    registers = components.connectors.config.video_connector_num_learnable_registers or 1
    assert length % registers == 0, f"text length {length} is not a multiple of {registers} connector registers"
    return length


def prompt_bytes(components: Components) -> int:
    """Peak-memory estimate of encoding one prompt: the stacked hidden states dominate (L x hidden x layers+1)."""
    cfg = components.connectors.config
    itemsize = torch.finfo(components.dtype).bits // 8
    return 3 * text_length(components) * cfg.caption_channels * cfg.text_proj_in_factor * itemsize


@torch.no_grad()
def encode_prompts(components: Components, prompts: Sequence[str], batch_size: int | None = None) -> TextBatch:
    """Embeddings for `prompts`, in order: video [N, L, Dv], audio [N, L, Da], mask [N, L].

    Tokenised like the diffusers pipeline: stripped, BOS prepended, left-padded to L, truncated.
    """
    assert prompts, "no prompts to encode"
    tokenizer, encoder, connectors = components.tokenizer, components.text_encoder, components.connectors
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    length = text_length(components)
    step = batch_size or len(prompts)
    videos, audios, masks = [], [], []
    for i in range(0, len(prompts), step):
        chunk = [p.strip() for p in prompts[i : i + step]]
        tokens = tokenizer(
            chunk,
            padding="max_length",
            max_length=length,
            truncation=True,
            add_special_tokens=True,
            return_tensors="pt",
        ).to(components.device)
        hidden = encoder(
            input_ids=tokens.input_ids, attention_mask=tokens.attention_mask, output_hidden_states=True
        ).hidden_states
        stacked = torch.stack(hidden, dim=-1).flatten(2, 3).to(components.dtype)  # [b, L, hidden * (layers + 1)]
        video, audio, mask = connectors(stacked, tokens.attention_mask)  # [b, L, Dv], [b, L, Da], [b, L]
        videos.append(video)
        audios.append(audio)
        masks.append(mask)
    return TextBatch(video=torch.cat(videos), audio=torch.cat(audios), mask=torch.cat(masks))
