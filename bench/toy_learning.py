"""Does the trainer learn the task? A short LoRA run on the toy preset, scored against the true past.

    .venv/bin/python -m pytest bench/toy_learning.py -s [TOY_STEPS=150 TOY_LR=1e-3 in the environment]

A measurement for the toy preset while its weights are being trained (docs/toy-world.md says where they stand): it
prints the three rows (base, lora, floor) per held-out closing clip, and its assertion is the target, a LoRA error
at most half the base's. It joins the suite once the shipped weights meet that target.

The toy base was pretrained as a plain text-to-video model of the toy world, so it has never been asked to continue
into a clean suffix; the LoRA the product trains must teach it that. The run goes through the product's own stages
(intake, encode, train, the validation reel) without Prefect, and the reel scores each lead-in against the true past
of its closing clip (`ltxcore.sample.world_metric`). A recipe fault that stops learning (the window cut from the
clip's start, the suffix placed first, the loss on the suffix, a learning rate far too small, the LoRA left out of
the reel) leaves the LoRA's error where the base's is, and this test fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from ltxcore.intake.validation import check_validation_clips
from ltxcore.job.model_stages import encode_stage, texts_stage
from ltxcore.job.plan import plan_job
from ltxcore.job.prepare import prepare
from ltxcore.job.request import parse_request
from ltxcore.job.settings import JobSettings
from ltxcore.media.world import make_world_archive
from ltxcore.model.spec import ModelSpec
from ltxcore.sample.reel import cached_validation_texts, render_validation
from ltxcore.train.config import TrainerSettings
from ltxcore.train.loop import train_lora

STEPS = int(os.environ.get("TOY_STEPS", 150))
CLIPS = 16


@pytest.fixture(scope="module")
def reel(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("toy-learning")
    archive, closings = make_world_archive(work / "data", clips=CLIPS, frames=33, seed=7, closings=2)
    request = parse_request(
        {
            "training_data_url": str(archive),
            "trigger_phrase": "sks",
            "number_of_steps": STEPS,
            "learning_rate": float(os.environ.get("TOY_LR", 1e-3)),
            "rank": 16,
            "number_of_frames": 33,
            "conditioning_frames": 8,
            "resolution": "low",
            "validation": [{"video_url": str(c), "prompt": "sks a square bounces"} for c in closings],
            "validation_number_of_frames": 33,
        }
    )
    settings = JobSettings(
        work_root=str(work / "run"),
        model="toy",
        allow_local_inputs=True,
        bucket_override=(128, 128),
        sample_steps=10,
        trainer=TrainerSettings(checkpoint_every=STEPS, validate_every=STEPS),
    )
    plan = plan_job(request, settings)
    dataset = prepare(plan)
    cache = encode_stage(dataset, settings, progress=lambda *_: None)
    texts = texts_stage(cache, settings, plan.negative_prompt, plan.prompts)
    run = train_lora(cache, plan.train, work / "train", spec=ModelSpec.parse("toy"), device="cpu")
    clips = check_validation_clips(plan.validation, work / "run", allow_local=True, allow_private_hosts=False)
    prompts = cached_validation_texts(texts, clips, plan.negative_prompt)
    return render_validation(
        clips, Path(run.lora_path), plan.extend, work / "reel", spec=ModelSpec.parse("toy"), texts=prompts
    )


def test_a_short_lora_run_halves_the_lead_in_error_of_the_base_on_held_out_endings(reel):
    rows = {label: [e.world.row(label).mean_error_px for e in reel.entries] for label in ("base", "lora", "floor")}
    base, lora, floor = (float(np.mean(v)) for v in rows.values())
    print("\n" + "\n".join(f"{label}: {values}" for label, values in rows.items()))
    assert len(reel.entries) == 2 and all(e.world is not None for e in reel.entries)
    assert lora * 2 <= base, f"LoRA {lora:.1f} px vs base {base:.1f} px (floor {floor:.1f}): {rows}"
    assert floor < lora  # the VAE's own loss is the floor no sampler gets under
