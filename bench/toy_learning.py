"""How well the trainer learns on the toy world: base, LoRA and floor errors of the lead-in on held-out endings.

    .venv/bin/python -m bench.toy_learning [--steps 150 --lr 1e-3 --rank 16 --clips 16 --seed 7]

A short LoRA run on the toy preset through the product's own stages (intake, encode, train and the validation reel,
as the flow runs them, without Prefect); the reel scores each generated lead-in against the true past of its closing
clip (`ltxcore.sample.world_metric`): rows base (no LoRA), lora and floor (the truth through the VAE). It prints the
rows per closing clip and the wall time; docs/toy-world.md records what it measured.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ltxcore.intake.validation import check_validation_clips
from ltxcore.job.model_stages import encode_stage, texts_stage
from ltxcore.job.plan import plan_job
from ltxcore.job.prepare import prepare
from ltxcore.job.request import parse_request
from ltxcore.job.settings import JobSettings
from ltxcore.media.world import make_world_archive
from ltxcore.model.spec import ModelSpec
from ltxcore.sample.reel import ValidationReel, cached_validation_texts, render_validation
from ltxcore.train.config import TrainerSettings
from ltxcore.train.loop import train_lora


@dataclass(frozen=True)
class ToyRun:
    steps: int = 150
    learning_rate: float = 1e-3
    rank: int = 16
    clips: int = 16
    frames: int = 33
    conditioning_frames: int = 8
    sample_steps: int = 10
    seed: int = 7


def toy_learning_reel(work: Path, run: ToyRun = ToyRun()) -> ValidationReel:
    """Train a LoRA on world clips and render the reel on two held-out closing clips."""
    archive, closings = make_world_archive(work / "data", clips=run.clips, frames=run.frames, seed=run.seed, closings=2)
    request = parse_request(
        {
            "training_data_url": str(archive),
            "trigger_phrase": "sks",
            "number_of_steps": run.steps,
            "learning_rate": run.learning_rate,
            "rank": run.rank,
            "number_of_frames": run.frames,
            "conditioning_frames": run.conditioning_frames,
            "resolution": "low",
            "validation": [
                {"video_url": str(c), "prompt": "sks " + c.with_suffix(".txt").read_text()} for c in closings
            ],
            "validation_number_of_frames": run.frames,
        }
    )
    settings = JobSettings(
        work_root=str(work / "run"),
        model="toy",
        allow_local_inputs=True,
        bucket_override=(128, 128),
        sample_steps=run.sample_steps,
        trainer=TrainerSettings(checkpoint_every=run.steps, validate_every=run.steps),
    )
    plan = plan_job(request, settings)
    dataset = prepare(plan)
    cache = encode_stage(dataset, settings, progress=lambda *_: None)
    texts = texts_stage(cache, settings, plan.negative_prompt, plan.prompts)
    trained = train_lora(cache, plan.train, work / "train", spec=ModelSpec.parse("toy"), device="cpu")
    clips = check_validation_clips(plan.validation, work / "run", allow_local=True, allow_private_hosts=False)
    prompts = cached_validation_texts(texts, clips, plan.negative_prompt)
    return render_validation(
        clips, Path(trained.lora_path), plan.extend, work / "reel", spec=ModelSpec.parse("toy"), texts=prompts
    )


def mean_errors(reel: ValidationReel) -> dict[str, float]:
    """Mean lead-in error (px) per row over the reel's entries: base, lora, floor."""
    return {
        label: float(np.mean([e.world.row(label).mean_error_px for e in reel.entries if e.world is not None]))
        for label in ("base", "lora", "floor")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = ToyRun()
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--lr", type=float, default=defaults.learning_rate)
    parser.add_argument("--rank", type=int, default=defaults.rank)
    parser.add_argument("--clips", type=int, default=defaults.clips)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    args = parser.parse_args()
    run = ToyRun(steps=args.steps, learning_rate=args.lr, rank=args.rank, clips=args.clips, seed=args.seed)
    began = time.time()
    with tempfile.TemporaryDirectory() as work:
        reel = toy_learning_reel(Path(work), run)
    for entry in reel.entries:
        if entry.world is not None:
            rows = ", ".join(
                f"{r.label} {r.mean_error_px:.1f} px (seam {r.seam_jump_px:.1f})" for r in entry.world.rows
            )
            print(f"{entry.world.colour} v={entry.world.velocity}: {rows}")
    print(f"mean: {mean_errors(reel)}; {time.time() - began:.0f} s for {run}")


if __name__ == "__main__":
    main()
