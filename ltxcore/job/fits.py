"""The deployment's check before any work: with its GPU named (EXTEND_SUFFIX_GPU), a request that no memory tier
fits is refused with a 422 naming the request field to lower (ltxcore.job.estimate has the memory model)."""

from __future__ import annotations

from ltxcore.errors import RequestRejected
from ltxcore.geometry import BUCKETS
from ltxcore.job.estimate import GIB, OVERHEAD_BYTES, TIERS, MemoryTier, peak_bytes, usable_bytes
from ltxcore.job.request import ExtendSuffixRequest
from ltxcore.job.workload import Workload
from ltxcore.model import info
from ltxcore.model.gpus import GPUS, Gpu, GpuName


def ensure_fits(request: ExtendSuffixRequest, work: Workload, gpu: GpuName | None) -> None:
    """With the deployment's GPU named (EXTEND_SUFFIX_GPU), refuse a request that no memory tier fits: a 422 naming
    the request field to lower and what would fit, raised before anything is fetched or encoded (0 units)."""
    if gpu is None:
        return
    card = GPUS[gpu]
    lean = TIERS[-1]
    need = peak_bytes(work, lean)
    if need <= usable_bytes(card):
        return
    fixes = _fixes(request, work, card, lean)
    head = (
        f"this request needs about {need / GIB:.1f} GiB of GPU memory even in the leanest memory tier "
        f"({lean.name}), more than the deployment's {card.name} offers ({usable_bytes(card) / GIB:.1f} GiB usable)"
    )
    if not fixes:
        base = peak_bytes(work, lean, width=1, height=1, frames=9, rank=8) - OVERHEAD_BYTES
        raise RequestRejected.one(
            ("body", "resolution"),
            f"{head}; no smaller request fits either (the base weights alone need {base / GIB:.1f} GiB): "
            "use a deployment with a larger GPU",
            "gpu_memory",
        )
    raise RequestRejected.one(("body", fixes[0][0]), f"{head}; lower " + " or ".join(f[1] for f in fixes), "gpu_memory")


def _fixes(request: ExtendSuffixRequest, work: Workload, card: Gpu, tier: MemoryTier) -> list[tuple[str, str]]:
    """Single-field changes that would fit, in the order to try them: resolution, number_of_frames, rank."""
    room = usable_bytes(card)
    fixes = []
    order = ["low", "medium", "high"]
    for res in reversed(order[: order.index(request.resolution)]):
        w, h = BUCKETS[(res, request.aspect_ratio)]
        if peak_bytes(work, tier, width=w, height=h) <= room:
            fixes.append(("resolution", f"resolution to {res!r}"))
            break
    for frames in range(request.number_of_frames - 8, request.conditioning_frames, -8):
        if peak_bytes(work, tier, frames=frames) <= room:
            fixes.append(("number_of_frames", f"number_of_frames to {frames} or fewer"))
            break
    for rank in (r for r in reversed(info.RANKS) if r < request.rank):
        if peak_bytes(work, tier, rank=rank) <= room:
            fixes.append(("rank", f"rank to {rank}"))
            break
    return fixes
