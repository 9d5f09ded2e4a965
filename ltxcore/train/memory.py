"""Memory tiers (trainer settings): an int8 frozen base and 8-bit AdamW moments, both from torchao.

Only what trains stays in full precision: the LoRA weights and their gradients are fp32 in every tier. The base
transformer's Linear weights can be stored as weight-only int8 (half of bf16; the matmul dequantises on the fly), and
AdamW's two moments can be stored blockwise in 8 bits (a quarter of fp32). Neither touches the LoRA file's format.
"""

from __future__ import annotations

import torch


def quantize_base(model: torch.nn.Module) -> int:
    """Store every frozen Linear weight of `model` as weight-only int8, leaving the LoRA adapters in fp32.

    Run after the LoRA is attached: peft's wrapped layers keep their `base_layer` Linear, which is what gets quantized.
    Returns the number of layers quantized.
    """
    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    done = []

    def frozen_linear(module: torch.nn.Module, name: str) -> bool:
        hit = isinstance(module, torch.nn.Linear) and "lora_" not in name and not module.weight.requires_grad
        if hit:
            done.append(name)
        return hit

    quantize_(model, Int8WeightOnlyConfig(), filter_fn=frozen_linear)
    assert done, "no frozen Linear layer was found to quantize"
    return len(done)


def adamw_8bit(params: list[torch.nn.Parameter], *, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW whose moments are kept blockwise in 8 bits (torchao; tensors under 4096 elements stay fp32).

    torchao compiles its per-parameter update with torch.compile (inductor), which costs a compile per distinct
    shape on the first step; LoRA shapes repeat across the 48 blocks, so that is a handful of compiles.
    """
    from torchao.optim import AdamW8bit

    class ScheduledAdamW8bit(AdamW8bit):
        """torchao keeps the LR as a tensor (so a compiled update never recompiles for a new value); the trainer's
        schedule sets a float, which is written into that tensor here."""

        def step(self, closure=None):
            for group, lr in zip(self.param_groups, self._lr, strict=True):
                if not isinstance(group["lr"], torch.Tensor):
                    lr.fill_(group["lr"])
                    group["lr"] = lr
            return super().step(closure)

    optimizer = ScheduledAdamW8bit(params, lr=lr, weight_decay=weight_decay)
    optimizer._lr = [group["lr"] for group in optimizer.param_groups]  # the tensors torchao created
    return optimizer
