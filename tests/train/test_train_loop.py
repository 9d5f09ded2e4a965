"""`train_lora` end to end on the tiny preset: exact resume, video-only runs, the LoRA file, and that it learns."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
import safetensors.torch
import torch
from diffusers import LTX2Pipeline

from ltxcore.manifests import LatentCache, LatentClip
from ltxcore.model.forward import TextBatch, VideoGeometry, predict_velocity
from ltxcore.model.loader import load_components
from ltxcore.model.lora import read_metadata
from ltxcore.model.spec import ModelSpec
from ltxcore.train import TrainConfig, TrainingInterrupted, TrainProgress, train_lora
from ltxcore.train.adapters import is_audio_module
from ltxcore.train.checkpoint import load_latest
from ltxcore.train.files import RunFiles
from ltxcore.train.session import Session
from ltxcore.train.synthetic import GlidingBlobs
from tests.support.configs import tiny_train_config

TINY = ModelSpec.parse("tiny")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def text(tiny_text: TextBatch) -> TextBatch:
    return tiny_text


def _config(**overrides) -> TrainConfig:
    return tiny_train_config(
        **{"steps": 6, "grad_accum": 2, "warmup": 2, "validate_every": 3, "plot_every": 2} | overrides
    )


def _step_losses(run_dir: Path) -> list[tuple[int, float]]:
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in lines if r["kind"] in ("step", "validation")]


def test_interrupted_and_resumed_run_equals_a_straight_run_bitwise(tmp_path: Path, text):
    source, cfg = GlidingBlobs(5, text), _config()
    straight = train_lora(source, cfg, tmp_path / "straight", spec=TINY, device="cpu")

    def sigterm_at_2(event: TrainProgress) -> None:
        if event.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # arrives mid-run; the loop checkpoints at the step's end

    out = tmp_path / "resumed"
    with pytest.raises(TrainingInterrupted) as stopped:
        train_lora(source, cfg, out, spec=TINY, device="cpu", progress=sigterm_at_2)
    assert stopped.value.step == 2 and load_latest(out / "checkpoints").step == 2
    partial = train_lora(source, cfg, out, spec=TINY, device="cpu", stop_after=4)
    assert (partial.finished, partial.steps_done, partial.lora_path) == (False, 4, None)
    resumed = train_lora(source, cfg, out, spec=TINY, device="cpu")

    assert resumed.finished and resumed.steps_done == straight.steps_done == 6
    a, b = load_latest(tmp_path / "straight" / "checkpoints"), load_latest(out / "checkpoints")
    assert a.lora.keys() == b.lora.keys()
    assert all(torch.equal(a.lora[k], b.lora[k]) for k in a.lora)  # fp32, bitwise
    assert all(torch.equal(x, y) for x, y in zip(_tensors(a.optimizer), _tensors(b.optimizer), strict=True))
    assert Path(straight.lora_path).read_bytes() == Path(resumed.lora_path).read_bytes()
    assert _step_losses(tmp_path / "straight") == _step_losses(out)  # the log reads like one run
    assert [v.step for v in resumed.validation] == [0, 3, 6]
    assert Path(resumed.plot_path).read_bytes()[:4] == b"\x89PNG"
    again = train_lora(source, cfg, out, spec=TINY, device="cpu")  # a finished run re-run: nothing left to train
    assert again == resumed


def test_gradient_checkpointing_changes_no_number(tmp_path: Path, text):
    source, cfg = GlidingBlobs(3, text), _config(steps=2, validate_every=10)
    plain = train_lora(source, cfg, tmp_path / "plain", spec=TINY, device="cpu")
    ckpt = train_lora(
        source, cfg.model_copy(update={"gradient_checkpointing": True}), tmp_path / "ckpt", spec=TINY, device="cpu"
    )
    a, b = load_latest(tmp_path / "plain" / "checkpoints"), load_latest(tmp_path / "ckpt" / "checkpoints")
    assert all(torch.allclose(a.lora[k], b.lora[k], rtol=0, atol=1e-6) for k in a.lora)
    assert any(not torch.equal(a.lora[k], 0 * a.lora[k]) for k in a.lora if "lora_B" in k)  # it did train
    assert plain.final_loss == pytest.approx(ckpt.final_loss, abs=1e-6)


def _tensors(optimizer_state: dict) -> list[torch.Tensor]:
    return [t for s in optimizer_state["state"].values() for t in s.values()]


def test_video_only_run_trains_no_audio_and_loads_in_diffusers(tmp_path: Path, text):
    cfg = _config(with_audio=False, steps=3, grad_accum=1)
    session = Session.build(GlidingBlobs(4, text), cfg, RunFiles.under(tmp_path), spec=TINY, device=torch.device("cpu"))
    # A video-only run keeps no audio adapters at all: nothing would train them (the file is as when they were frozen).
    assert not [n for n, _ in session.model.named_parameters() if "lora_" in n and is_audio_module(n)]
    video = {n: p.detach().clone() for n, p in session.params.items()}
    assert video
    for step in range(3):
        event = session.train_step(step)
        assert event.loss_audio is None and event.loss == event.loss_video
    now = dict(session.model.named_parameters())
    assert sum(not torch.equal(now[n], p) for n, p in video.items()) == len(video)  # every video adapter moved
    run = session.finish()

    lora = safetensors.torch.load_file(run.lora_path)
    assert lora and not [k for k in lora if is_audio_module(k)]
    assert all(k.startswith("diffusion_model.") and v.dtype == torch.bfloat16 for k, v in lora.items())
    meta = read_metadata(Path(run.lora_path))
    assert (meta["rank"], meta["alpha"], meta["steps"], meta["base_model"]) == (4, 4, 3, "tiny")
    assert meta["target_modules"] == ["to_q", "to_k", "to_v", "to_out.0"] and meta["with_audio"] is False
    config = json.loads(Path(run.config_path).read_text())
    assert (config["training_type"], config["conditioning_frames"], config["with_audio"]) == ("extend-suffix", 8, False)

    # diffusers' own LoRA loader reads the file; with AUDIO ON the adapted model matches ours (bf16 rounding).
    batch = GlidingBlobs(1, text).load(0, with_audio=True)
    kw = dict(
        video=batch.video.flatten(1).T[None],
        video_sigmas=torch.full((1, 64), 0.5),
        sigma=torch.tensor([0.5]),
        text=text,
        geometry=VideoGeometry(4, 4, 4, 24.0),
        audio=batch.audio.transpose(0, 1).flatten(1)[None],
        audio_sigmas=torch.full((1, 26), 0.5),
        audio_sigma=torch.tensor([0.5]),
    )
    none = dict.fromkeys(("scheduler", "vae", "audio_vae", "text_encoder", "tokenizer", "connectors", "vocoder"))
    pipe = LTX2Pipeline(transformer=load_components(TINY, {"transformer"}).transformer, **none)
    base, _ = predict_velocity(pipe.transformer, **kw)
    pipe.load_lora_weights(run.lora_path, adapter_name="suffix")
    loaded, loaded_audio = predict_velocity(pipe.transformer, **kw)
    ours, _ = predict_velocity(session.model.eval(), **kw)
    assert (loaded - base).abs().max() > 1e-3 and loaded_audio is not None
    assert torch.allclose(loaded, ours, atol=1e-2)


def test_it_learns_the_lead_in(tmp_path: Path, text):
    """Held-out validation loss (fixed clips, noise, sigmas): trained LoRA vs the base model."""
    source = GlidingBlobs(16, text)  # a blob gliding at constant velocity; a sine with a per-clip phase
    cfg = _config(
        rank=8, steps=60, learning_rate=4e-3, grad_accum=1, warmup=5, validate_every=30, plot_every=30, holdout_clips=3
    )
    start = time.perf_counter()
    run = train_lora(source, cfg, tmp_path, spec=TINY, device="cpu")
    base, trained = run.validation[0], run.validation[-1]
    print(
        f"held-out validation loss: base {base.loss:.3f} (video {base.loss_video:.3f}, audio {base.loss_audio:.3f})"
        f" -> trained {trained.loss:.3f} (video {trained.loss_video:.3f}, audio {trained.loss_audio:.3f})"
        f" after {run.steps_done} steps in {time.perf_counter() - start:.1f}s"
    )
    assert base.split == trained.split == "holdout" and (base.step, trained.step) == (0, 60)
    assert trained.loss < 0.85 * base.loss
    assert trained.loss_video < 0.9 * base.loss_video and trained.loss_audio < 0.9 * base.loss_audio


def _latent_cache(root: Path, text, clips: int) -> LatentCache:
    """A `LatentCache` in the encode stage's file layout, holding the synthetic latents (no VAE needed)."""
    source, entries = GlidingBlobs(clips, text), []
    tensors = {
        "video_prompt_embeds": text.video[0],
        "audio_prompt_embeds": text.audio[0],
        "prompt_attention_mask": text.mask[0],
    }
    safetensors.torch.save_file({k: v.contiguous() for k, v in tensors.items()}, root / "t.safetensors")
    for i in range(clips):
        clip = source.load(i, with_audio=True)
        path = root / f"{clip.clip_id}.safetensors"
        safetensors.torch.save_file({"video_latents": clip.video, "audio_latents": clip.audio}, path)
        entries.append(LatentClip(id=clip.clip_id, path=str(path), text_key="t"))
    return LatentCache(
        root=str(root),
        clips=entries,
        texts={"t": str(root / "t.safetensors")},
        prompts={"": "t"},
        negative_prompt="",
        model_fingerprint="x",
        shapes={},
        dtypes={},
        num_frames=25,
        fps=24,
        width=128,
        height=128,
        conditioning_frames=8,
        with_audio=True,
        suffix_latent_frames=1,
        audio_suffix_steps=8,
    )


def test_trains_from_the_encode_stages_latent_cache(tmp_path: Path, text):
    cache = _latent_cache(tmp_path, text, clips=3)
    run = train_lora(cache, _config(steps=2), tmp_path / "run", spec=TINY, device="cpu")
    assert run.finished and run.final_loss_audio is not None
    with pytest.raises(ValueError, match="8-frame suffix"):
        train_lora(cache, _config(conditioning_frames=16), tmp_path / "other", spec=TINY, device="cpu")
