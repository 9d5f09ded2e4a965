"""Model stages as Prefect tasks: encode the dataset, train the LoRA, render the validation reel."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from ltxcore.job.model_stages import encode_stage, render_stage, texts_stage, train_stage
from ltxcore.job.settings import JobSettings
from ltxcore.manifests import DatasetManifest, LatentCache, ValidationClip
from ltxcore.sample.extend import ExtendSettings
from ltxcore.sample.prefit import prefit_validation
from ltxcore.sample.reel import ValidationReel, report_markdown
from ltxcore.train.config import LoraRun, TrainConfig, TrainProgress
from tasks.artifacts import PreviewTable, image_artifact
from tasks.common import ProgressForwarder, stage_task


@task(name="prefit-validation")
def prefit(validation: list[ValidationClip], extend: ExtendSettings) -> None:
    """Fit every validation clip with the reel's own code now, so a clip the reel cannot use fails the job before
    any clip is encoded or any step trained (a 422, 0 units), not after training."""
    prefit_validation(validation, extend)


@stage_task(name="encode-dataset")
def encode(dataset: DatasetManifest, settings: JobSettings) -> LatentCache:
    progress = ProgressForwarder("encoding-progress", f"Encoding {len(dataset.clips)} clips", settings.progress_bar)
    return encode_stage(dataset, settings, progress)


@stage_task(name="encode-validation-texts", metered=False)
def encode_texts(cache: LatentCache, settings: JobSettings, negative_prompt: str, prompts: list[str]) -> LatentCache:
    """The validation prompts and the negative prompt, embedded apart from the training cache: changing them
    re-encodes no clip and retrains nothing."""
    return texts_stage(cache, settings, negative_prompt, prompts)


@stage_task(name="train-lora")
def train(
    cache: LatentCache,
    config: TrainConfig,
    settings: JobSettings,
    validation: list[ValidationClip],
    extend: ExtendSettings | None,
    texts: LatentCache | None = None,
) -> LoraRun:
    """Train (or resume) the LoRA. `texts` (the validation prompts' embeddings, for previews) is not in the key."""
    logger = get_run_logger()
    bar = ProgressForwarder(
        "training-progress", f"LoRA training, {config.steps} steps", settings.progress_bar, eta=True
    )
    table = PreviewTable(config.steps)
    held_out: list[float] = []  # the newest held-out loss, for the preview table

    def progress(p: TrainProgress) -> None:
        if p.val_loss is not None:
            held_out.append(p.val_loss)
        bar(p.step, p.total, TrainProgress.describe(p))

    def preview(step: int, reel: ValidationReel) -> None:
        seams = ", ".join(f"{e.seam.ratio:.2f}" for e in reel.entries)
        logger.info("preview at step %d: %s (seam ratio %s)", step, reel.video_path, seams)
        table.add(step, reel, held_out[-1] if held_out else None)

    run = train_stage(
        cache,
        config,
        settings,
        validation,
        extend,
        progress=progress,
        on_preview=preview,
        log=logger.info,
        texts=texts,
    )
    return run


def training_report(run: LoraRun) -> None:
    """The `training-summary` (held-out losses, guardrails, best steps) and `loss-curve` artifacts. Drawn by the flow
    after the stage, so a run whose training was Cached, or ran on the GPU pool's deployment, shows them too."""
    lines = [f"| {v.step} | {v.loss:.4f} | {v.split} |" for v in run.validation]
    create_markdown_artifact(
        "\n".join(
            [
                f"**Training finished**: {run.steps_done} steps, final loss {run.final_loss:.4f}",
                "",
                "| step | held-out loss | split |",
                "|---|---|---|",
                *lines,
                *(["", "**Guardrails**", *(f"- {f}" for f in run.guard_findings)] if run.guard_findings else []),
                *[f"\nBest by {p.score}: step {p.step} ({p.value:.4f})" for p in run.best],
            ]
        ),
        key="training-summary",
        description="Held-out validation loss (step 0 = base model)",
    )
    if Path(run.plot_path).is_file():  # a training run on another machine may have left it on that disk only
        image_artifact(run.plot_path, key="loss-curve", description="Loss curve (raw and smoothed)")


@stage_task(name="render-validation")
def render(
    run: LoraRun, texts: LatentCache, validation: list[ValidationClip], extend: ExtendSettings, settings: JobSettings
) -> ValidationReel:
    """Extend every validation clip backward with the trained LoRA; the prompts' embeddings come from `texts`."""
    return render_stage(run, texts, validation, extend, settings)


def reel_report(reel: ValidationReel) -> None:
    """The `validation-report` artifact (seam quality per entry), drawn by the flow after the stage, cached or not."""
    create_markdown_artifact(
        report_markdown(reel), key="validation-report", description="Seam quality of each validation extension"
    )
