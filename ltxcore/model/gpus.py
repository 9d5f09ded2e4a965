"""The GPUs the project knows: memory and dense bf16 peak, one table for model-info's utilisation figures and the
pre-flight estimate."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

GpuName = Literal["h100", "h100-pcie", "h200", "a100-80", "l40s", "rtx4090", "rtx5090"]


class Gpu(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    name: str = Field(description="Marketing name; also what a benchmark row's device name is matched against.")
    memory_mib: int = Field(description="Total device memory as nvidia-smi reports it.")
    bf16_tflops: float = Field(description="Dense bf16 tensor-core peak (fp32 accumulate), vendor datasheet.")


GPUS: dict[str, Gpu] = {
    g.key: g
    for g in (
        Gpu(key="h100", name="H100 SXM", memory_mib=81559, bf16_tflops=989.4),
        Gpu(key="h100-pcie", name="H100 PCIe", memory_mib=81559, bf16_tflops=756.5),
        Gpu(key="h200", name="H200", memory_mib=143771, bf16_tflops=989.4),
        Gpu(key="a100-80", name="A100 80GB", memory_mib=81920, bf16_tflops=312.0),
        Gpu(key="l40s", name="L40S", memory_mib=46068, bf16_tflops=362.0),
        Gpu(key="rtx4090", name="RTX 4090", memory_mib=24564, bf16_tflops=165.2),
        Gpu(key="rtx5090", name="RTX 5090", memory_mib=32607, bf16_tflops=209.5),
    )
}
assert set(GPUS) == set(GpuName.__args__), "the GPU table and the deployment setting name the same GPUs"
