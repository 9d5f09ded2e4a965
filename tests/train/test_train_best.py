"""The best checkpoint: on the tiny preset the held-out-loss pick is the step with the lowest recorded held-out loss,
its LoRA file holds that step's weights, and config.json and the published result name the step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import safetensors.torch
import torch

from ltxcore.job.publish import publish
from ltxcore.model.forward import TextBatch
from ltxcore.model.lora import read_metadata
from ltxcore.model.spec import ModelSpec
from ltxcore.train import train_lora
from ltxcore.train.adapters import export_key
from ltxcore.train.best import BestTracker, header_note, seam_score
from ltxcore.train.synthetic import GlidingBlobs
from tests.support.configs import tiny_train_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_tracker_keeps_the_lowest_score_and_a_resume_drops_picks_after_its_checkpoint(tmp_path: Path):
    saved: list[int] = []

    def save(path: Path, step: int) -> None:
        saved.append(step)
        path.write_text(f"weights of step {step}")

    best = BestTracker(tmp_path, resume_step=-1)
    for step, loss in [(0, 0.1), (1, 0.50), (2, 0.30), (3, 0.40), (4, 0.30), (5, float("nan"))]:
        best.offer("held_out_loss", step, loss, save)
    pick = best.picks["held_out_loss"]
    # step 0 is the base model (never a pick), a tie keeps the earlier step, NaN is never best
    assert (pick.step, pick.value, saved) == (2, 0.30, [1, 2])
    assert Path(pick.lora_path).read_text() == "weights of step 2"
    assert BestTracker(tmp_path, resume_step=3).picks["held_out_loss"].step == 2
    resumed = BestTracker(tmp_path, resume_step=1)  # the pick at step 2 is after the checkpoint: redone later
    assert resumed.picks == {} and not Path(pick.lora_path).exists()


def test_seam_score_is_symmetric_in_log_ratio():
    assert seam_score([1.0, 1.0]) == 0.0
    assert seam_score([2.0]) == pytest.approx(seam_score([0.5])) == pytest.approx(0.6931, abs=1e-4)
    assert seam_score([2.0, 1.0]) == pytest.approx(0.3466, abs=1e-4)


def test_tiny_run_ships_the_step_with_the_lowest_held_out_loss(tmp_path: Path, tiny_text: TextBatch):
    # A learning rate far too high, held constant: the held-out loss jumps after the first step, so the best step is
    # not the last one and the test tells "best" from "last".
    cfg = tiny_train_config(
        steps=3,
        learning_rate=3.0,
        final_lr_ratio=1.0,
        with_audio=False,
        checkpoint_every=1,
        keep_checkpoints=20,
        validate_every=1,
    )
    out = tmp_path / "run"
    run = train_lora(GlidingBlobs(4, tiny_text), cfg, out, spec=ModelSpec.parse("tiny"), device="cpu")

    recorded = {v.step: v.loss for v in run.validation if v.step > 0}
    assert sorted(recorded) == [1, 2, 3]
    lowest = min(recorded, key=recorded.get)
    assert lowest < 3 and recorded[3] > recorded[lowest] + 0.05
    pick = run.best_by("held_out_loss")
    assert pick is not None and pick.step == lowest and pick.value == recorded[lowest]
    # the file holds that step's weights (bf16 of the fp32 checkpoint written at the same step), not the last step's
    state = torch.load(out / "checkpoints" / f"step-{lowest:08d}.pt", weights_only=True)
    best = safetensors.torch.load_file(pick.lora_path)
    assert best.keys() == {export_key(n) for n in state["lora"]}
    assert all(torch.equal(best[export_key(n)], t.to(torch.bfloat16)) for n, t in state["lora"].items())
    assert read_metadata(Path(pick.lora_path))["steps"] == lowest
    final = safetensors.torch.load_file(run.lora_path)
    assert not all(torch.equal(final[k], best[k]) for k in best)
    config = json.loads(Path(run.config_path).read_text())
    assert config["best"]["held_out_loss"] == {"step": lowest, "value": recorded[lowest]}

    result = publish(
        str(tmp_path / "outputs"),
        lora_file=Path(run.lora_path),
        config_file=Path(run.config_path),
        billable_units=100,
        best_lora_file=Path(pick.lora_path),
        best_lora_step=pick.step,
    )
    assert result.best_lora_step == lowest and result.best_lora_file.file_name == "best-lora.safetensors"
    assert result.best_lora_file.file_size == Path(pick.lora_path).stat().st_size
    assert header_note(run.best) == f"best loss @ step {lowest}"
