"""Data-parallel suffix-LoRA training from the command line; launch with torchrun (see ltxcore.train.parallel).

torchrun --nproc-per-node 8 -m ltxcore.train --cache CACHE/latent_cache.json --config cfg.json --out DIR
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch
import torch.distributed as dist

from ltxcore.train.parallel import file_digest, init_from_env


def _source(args: argparse.Namespace, spec):  # -> LatentSource
    from ltxcore.manifests import LatentCache
    from ltxcore.model.loader import load_components
    from ltxcore.model.text import encode_prompts
    from ltxcore.train.data import CacheSource
    from ltxcore.train.synthetic import GlidingBlobs

    if args.cache:
        return CacheSource(LatentCache.model_validate_json(Path(args.cache).read_text()))
    # Synthetic latents (benchmarks and tests): each rank encodes the same prompt with the same weights.
    text = encode_prompts(load_components(spec, {"text_encoder", "tokenizer", "connectors"}), ["a ball moves right"])
    return GlidingBlobs(args.synthetic, text)


def main(argv: list[str] | None = None) -> None:
    from ltxcore.model.spec import ModelSpec
    from ltxcore.train.config import TrainConfig
    from ltxcore.train.loop import train_lora

    ap = argparse.ArgumentParser(description="Data-parallel suffix-LoRA training; launch with torchrun.")
    ap.add_argument("--out", type=Path, required=True, help="output directory (shared storage across machines)")
    ap.add_argument("--config", type=Path, required=True, help="TrainConfig as JSON")
    ap.add_argument("--model", default="tiny", help="model spec: tiny, a directory or an s3:// prefix")
    data = ap.add_mutually_exclusive_group(required=True)
    data.add_argument("--cache", help="LatentCache manifest JSON written by the encode stage")
    data.add_argument("--synthetic", type=int, help="train on this many synthetic clips instead")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads per rank (0 = torch's default)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    parallel, device = init_from_env()
    try:
        spec = ModelSpec.parse(args.model)
        if int(os.environ["LOCAL_RANK"]) == 0:
            spec.local_dir()  # build or sync the weights once per machine before its other ranks read them
        dist.barrier()
        config = TrainConfig.model_validate_json(args.config.read_text())
        run = train_lora(_source(args, spec), config, args.out, spec=spec, device=device, parallel=parallel)
        every: list[str | None] = [None] * parallel.world
        dist.all_gather_object(every, file_digest(Path(run.lora_path)) if run.lora_path else None)
        if len(set(every)) != 1:  # a broken invariant, not a user's mistake: the ranks must never drift apart
            raise AssertionError(f"data-parallel ranks finished with different LoRAs: {every}")
        print(
            json.dumps(
                {
                    "rank": parallel.rank,
                    "world": parallel.world,
                    "steps_done": run.steps_done,
                    "finished": run.finished,
                    "lora_sha256": every[parallel.rank],
                }
            ),
            flush=True,
        )
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
