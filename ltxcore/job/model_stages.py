"""The model stages of the job (encode, train, render), each one call for a Prefect task or a script: where the stage
writes, which model and device it uses, the stage mirror around training, and the live previews."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from ltxcore.job.settings import JobSettings
from ltxcore.manifests import DatasetManifest, LatentCache, ValidationClip
from ltxcore.model.cache import Progress, encode_dataset
from ltxcore.model.loader import default_dtype
from ltxcore.model.prompt_cache import add_prompt_embeddings
from ltxcore.model.spec import ModelSpec
from ltxcore.sample.extend import ExtendSettings
from ltxcore.sample.preview import live_previewer
from ltxcore.sample.reel import ValidationReel, cached_validation_texts, render_validation
from ltxcore.store.mirror import CheckpointMirror, StageMirror
from ltxcore.store.stage import compute_once
from ltxcore.store.stages import REEL, TRAIN
from ltxcore.train.best import header_note, seam_score
from ltxcore.train.config import LoraRun, TrainConfig, TrainProgress
from ltxcore.train.loop import train_lora


def encode_stage(dataset: DatasetManifest, settings: JobSettings, progress: Progress) -> LatentCache:
    """The training cache: every clip and caption, the built-in negative prompt and the empty prompt. The validation
    texts are embedded apart (`texts_stage`), so changing them re-encodes no clip."""
    device = settings.torch_device()
    return encode_dataset(
        dataset,
        ModelSpec.parse(settings.model),
        Path(settings.work_root),
        device=device,
        dtype=default_dtype(device),
        progress=progress,
    )


def texts_stage(cache: LatentCache, settings: JobSettings, negative_prompt: str, prompts: Sequence[str]) -> LatentCache:
    """The training cache plus the validation prompts' and negative prompt's embeddings (no clip is re-encoded)."""
    device = settings.torch_device()
    return add_prompt_embeddings(
        cache,
        ModelSpec.parse(settings.model),
        Path(settings.work_root),
        negative_prompt=negative_prompt,
        prompts=prompts,
        device=device,
        dtype=default_dtype(device),
    )


def train_stage(
    cache: LatentCache,
    config: TrainConfig,
    settings: JobSettings,
    validation: Sequence[ValidationClip],
    extend: ExtendSettings | None,
    *,
    progress: Callable[[TrainProgress], None],
    on_preview: Callable[[int, ValidationReel], None],
    log: Callable[[str], None],
    texts: LatentCache | None = None,
) -> LoraRun:
    """Train (or resume) under `train/<key>/`. With a stage mirror, checkpoints fetched from it first (a worker that
    died left them there) and pushed as they are written; with validation clips, previews with the live LoRA, whose
    prompts' embeddings come from `texts` (the cache with the validation texts; not part of the training key)."""

    def run(out: Path) -> LoraRun:
        return _train(out, cache, config, settings, validation, extend, progress, on_preview, log, texts)

    # `run.json`, written when the run finished, is what a rerun reuses without loading the model
    return compute_once(TRAIN.dir(settings.work_root, cache=cache, config=config), LoraRun, run, manifest="run.json")


def _train(
    out: Path,
    cache: LatentCache,
    config: TrainConfig,
    settings: JobSettings,
    validation: Sequence[ValidationClip],
    extend: ExtendSettings | None,
    progress: Callable[[TrainProgress], None],
    on_preview: Callable[[int, ValidationReel], None],
    log: Callable[[str], None],
    texts: LatentCache | None,
) -> LoraRun:
    mirror = StageMirror.maybe(settings.work_root, settings.stage_mirror)
    checkpoints = CheckpointMirror(mirror, out.resolve()) if mirror else None
    if checkpoints and (restored := checkpoints.restore()):
        log(f"fetched {len(restored)} checkpoint files from the stage mirror; resuming from them")

    def step_done(p: TrainProgress) -> None:
        progress(p)
        if checkpoints:
            checkpoints.push_if_new()  # the checkpoint a step writes goes up after the next step

    spec = ModelSpec.parse(settings.model)
    device = settings.torch_device()
    preview = None
    if validation and extend:
        render = live_previewer(
            texts or cache, validation, extend, spec, device, default_dtype(device), out / "previews", on_preview
        )

        def preview(step: int, model: torch.nn.Module) -> float:  # scored by its seams: the best step by each
            return seam_score([e.seam.ratio for e in render(step, model).entries])

    try:
        return train_lora(cache, config, out, spec=spec, device=device, progress=step_done, preview=preview)
    finally:
        if checkpoints:
            checkpoints.push_if_new()  # e.g. the checkpoint written on SIGTERM, before the run stopped


def render_stage(
    run: LoraRun,
    texts: LatentCache,
    validation: Sequence[ValidationClip],
    extend: ExtendSettings,
    settings: JobSettings,
) -> ValidationReel:
    """Extend every validation clip backward with the trained LoRA. The prompts' embeddings come from `texts` (the
    cache with the validation texts), so the text encoder is not loaded."""
    assert run.lora_path, "render after training finished"
    lora = Path(run.lora_path)

    def render(out: Path) -> ValidationReel:
        return render_validation(
            validation,
            lora,
            extend,
            out,
            spec=ModelSpec.parse(settings.model),
            device=settings.torch_device(),
            texts=cached_validation_texts(texts, validation, extend.negative_prompt),
            title_note=f"({header_note(run.best)})" if run.best else "",
        )

    out = REEL.dir(settings.work_root, run=run, validation=validation, extend=extend)
    return compute_once(out, ValidationReel, render, manifest="reel.json")
