"""Data-parallel LoRA training across processes (GPUs, or CPU processes with gloo), launched by torchrun.

    torchrun --nproc-per-node 8 -m ltxcore.train --cache CACHE/latent_cache.json --config cfg.json --out DIR

The split keeps a run's meaning: an optimizer step is still `grad_accum` micro-batches, and micro-batch k of a step
runs on rank k % world. Each rank backpropagates its own micro-batches into the LoRA gradients, the gradients are
summed across ranks (one all-reduce of the flat adapter gradients), and every rank then takes the same optimizer step
from the same state, so the adapters stay identical without a broadcast. Because a micro-batch's clips and noise are a
pure function of (seed, micro-batch index), the run sees exactly the data a single process with the same `grad_accum`
would see; only the order of the gradient sum differs. Rank 0 alone writes the run's files (checkpoints, log, plot,
LoRA); the other ranks resume from its checkpoints, so the output directory must be shared storage across machines.

A plain all-reduce after the backward instead of DistributedDataParallel: the trainable state is a small LoRA, so the
overlap DDP buys is a few milliseconds per step, and peft/gradient checkpointing keep working on the unwrapped model.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from ltxcore.train.files import RunFiles


@dataclass(frozen=True)
class DataParallel:
    """This process's place in the group: rank `rank` of `world`."""

    rank: int
    world: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def check(self, grad_accum: int) -> None:
        if grad_accum % self.world:
            raise ValueError(f"grad_accum ({grad_accum}) must be a multiple of the {self.world} data-parallel ranks")

    def micro_batches(self, grad_accum: int) -> range:
        """Indices (within a step) of the micro-batches this rank computes."""
        return range(self.rank, grad_accum, self.world)

    def reduce_gradients(self, params: Iterable[torch.nn.Parameter]) -> None:
        """Sum every trainable parameter's gradient across ranks, in place (one flat all-reduce)."""
        params = [p for p in params if p.grad is not None]
        flat = torch.cat([p.grad.reshape(-1) for p in params])  # [sum of numel]
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        offset = 0
        for p in params:
            n = p.grad.numel()
            p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
            offset += n

    def gather_losses(self, local: torch.Tensor) -> torch.Tensor:
        """[grad_accum / world, K] per-micro-batch values of this rank -> [grad_accum, K] in micro-batch order."""
        parts = [torch.empty_like(local) for _ in range(self.world)]
        dist.all_gather(parts, local.contiguous())
        return torch.stack(parts, dim=1).reshape(-1, local.shape[-1])  # rank r's j-th row is micro j*world + r

    def files(self, main: RunFiles) -> RunFiles:
        """Rank 0 writes the run's files; another rank reads rank 0's checkpoints and keeps its own scratch files."""
        if self.is_main:
            return main
        scratch = Path(tempfile.mkdtemp(prefix=f"extend-suffix-rank{self.rank}-"))
        own = RunFiles.under(scratch)
        return RunFiles(
            root=scratch,
            checkpoints=main.checkpoints,
            metrics=own.metrics,
            plot=own.plot,
            lora=own.lora,
            config=own.config,
        )


def init_from_env() -> tuple[DataParallel, torch.device]:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK); NCCL on GPUs, gloo on CPUs."""
    rank, world, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        device = torch.device("cpu")
        dist.init_process_group("gloo")
    return DataParallel(rank=rank, world=world), device


def file_digest(path: Path) -> str:
    """sha256 of a file: every rank writes its LoRA file (rank 0 into the run, the others into scratch), and the
    bytes are deterministic, so equal digests mean the ranks hold the same adapters."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
