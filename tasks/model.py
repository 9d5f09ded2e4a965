"""Model stages as Prefect tasks: encode the dataset, train the LoRA."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from prefect import get_run_logger, task
from prefect.artifacts import create_image_artifact, create_link_artifact, create_markdown_artifact

from ltxcore.manifests import DatasetManifest, LatentCache, ValidationClip
from ltxcore.model.cache import encode_dataset
from ltxcore.model.loader import load_components
from ltxcore.model.spec import ModelSpec
from ltxcore.sample.extend import ExtendSettings, sample_parts
from ltxcore.sample.reel import cached_validation_texts, render_validation, report_markdown
from ltxcore.settings import JobSettings
from ltxcore.store.keys import content_key
from ltxcore.store.mirror import CheckpointMirror, StageMirror, mirrored
from ltxcore.train.config import LoraRun, TrainConfig, TrainProgress
from ltxcore.train.loop import train_lora
from tasks.common import CACHE_FOR, ProgressForwarder, locked_stage_policy


def _dtype(device: str) -> torch.dtype:
    # bf16 weights on a GPU; fp32 on a CPU, where bf16 matmuls are slow and tests want exact numbers.
    return torch.bfloat16 if device.startswith("cuda") else torch.float32


@task(name="encode-dataset", cache_policy=locked_stage_policy("encode", 1), cache_expiration=CACHE_FOR)
@mirrored
def encode(dataset: DatasetManifest, settings: JobSettings, negative_prompt: str, prompts: list[str]) -> LatentCache:
    device = settings.torch_device()
    return encode_dataset(
        dataset,
        ModelSpec.parse(settings.model),
        Path(settings.work_root),
        device=device,
        dtype=_dtype(device),
        negative_prompt=negative_prompt,
        extra_prompts=prompts,
        progress=ProgressForwarder("encoding-progress", f"Encoding {len(dataset.clips)} clips"),
    )


@task(name="train-lora", cache_policy=locked_stage_policy("train", 1), cache_expiration=CACHE_FOR)
@mirrored
def train(
    cache: LatentCache,
    config: TrainConfig,
    settings: JobSettings,
    validation: list[ValidationClip],
    extend: ExtendSettings | None,
) -> LoraRun:
    out = Path(settings.work_root) / "train" / content_key("train", 1, cache=cache, config=config)
    bar = ProgressForwarder("training-progress", f"LoRA training, {config.steps} steps")
    mirror = StageMirror.from_env()
    checkpoints = CheckpointMirror(mirror, out.resolve()) if mirror else None
    if checkpoints and (restored := checkpoints.restore()):
        get_run_logger().info("fetched %d checkpoint files from the stage mirror; resuming from them", len(restored))

    def progress(p: TrainProgress) -> None:
        val = f" val_loss {p.val_loss:.4f}" if p.val_loss is not None else ""
        bar(p.step, p.total, f"loss {p.loss:.4f} lr {p.lr:.2e} {p.tokens_per_s:.0f} tok/s ETA {p.eta_s:.0f}s{val}")
        if checkpoints:
            checkpoints.push_if_new()  # the checkpoint a step writes goes up after the next step

    spec = ModelSpec.parse(settings.model)
    device = settings.torch_device()
    preview = _previewer(cache, validation, extend, spec, device, out / "previews") if validation and extend else None
    try:
        run = train_lora(cache, config, out, spec=spec, device=device, progress=progress, preview=preview)
    finally:
        if checkpoints:
            checkpoints.push_if_new()  # e.g. the checkpoint written on SIGTERM, before the run stopped
    lines = [f"| {v.step} | {v.loss:.4f} | {v.split} |" for v in run.validation]
    create_markdown_artifact(
        "\n".join(
            [
                f"**Training finished**: {run.steps_done} steps, final loss {run.final_loss:.4f}",
                "",
                "| step | held-out loss | split |",
                "|---|---|---|",
                *lines,
            ]
        ),
        key="training-summary",
        description="Held-out validation loss (step 0 = base model)",
    )
    create_image_artifact(
        image_url=Path(run.plot_path).resolve().as_uri(), key="loss-curve", description="Loss curve (raw and smoothed)"
    )
    return run


def _previewer(
    cache: LatentCache,
    validation: list[ValidationClip],
    extend: ExtendSettings,
    spec: ModelSpec,
    device: str,
    out: Path,
) -> Callable[[int, torch.nn.Module], None]:
    """Render the validation reel with the live LoRA at a training step, without a second copy of the transformer
    and, with the prompts' embeddings from the latent cache, without the text encoder beside the training model."""
    texts = cached_validation_texts(cache, validation, extend.negative_prompt)
    parts = sample_parts(extend.with_audio, with_text=texts is None)  # lazy: the transformer is provided, not loaded
    components = load_components(spec, parts, device=device, dtype=_dtype(device))
    logger = get_run_logger()

    def preview(step: int, model: torch.nn.Module) -> None:
        components.provide("transformer", model)
        reel = render_validation(validation, None, extend, out, components=components, step_label=f"step-{step:05d}",
                                 texts=texts)
        seams = ", ".join(f"{e.seam.ratio:.2f}" for e in reel.entries)
        logger.info("preview at step %d: %s (seam ratio %s)", step, reel.video_path, seams)
        create_link_artifact(
            Path(reel.video_path).resolve().as_uri(), link_text=f"preview at step {step}", key="validation-preview"
        )

    return preview


@task(name="render-validation", cache_policy=locked_stage_policy("validation-reel", 1), cache_expiration=CACHE_FOR)
@mirrored
def render(
    run: LoraRun, cache: LatentCache, validation: list[ValidationClip], extend: ExtendSettings, settings: JobSettings
) -> str:
    """Extend every validation clip backward with the trained LoRA; returns the reel's path. The prompts' embeddings
    come from the latent cache, so the text encoder is not loaded."""
    assert run.lora_path, "render after training finished"
    out = Path(settings.work_root) / "validation-reel" / content_key("reel", 1, run=run, clips=validation, s=extend)
    reel = render_validation(
        validation,
        Path(run.lora_path),
        extend,
        out,
        spec=ModelSpec.parse(settings.model),
        device=settings.torch_device(),
        texts=cached_validation_texts(cache, validation, extend.negative_prompt),
    )
    create_markdown_artifact(
        report_markdown(reel), key="validation-report", description="Seam quality of each validation extension"
    )
    return reel.video_path
