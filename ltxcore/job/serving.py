"""What a served deployment runs and says about itself: the model rule (never the toy preset by accident) and the
description the Prefect UI shows on the deployment's page."""

from __future__ import annotations

from ltxcore.errors import RequestRejected
from ltxcore.job.settings import JobSettings
from ltxcore.model.spec import ModelSpec
from ltxcore.store.fs import is_remote


def served_model(option: str | None, env: str | None) -> str:
    """The model a deployment serves: --model, else EXTEND_SUFFIX_MODEL; neither is a refusal, since a served run
    bills real units and the default 'tiny' preset has random weights (its LoRA would be useless)."""
    chosen = (option or env or "").strip()
    if not chosen:
        raise RequestRejected.one(
            ("--model",),
            "serve needs the model named explicitly: --model or EXTEND_SUFFIX_MODEL (a diffusers-layout directory "
            "or s3:// prefix holding LTX-2.3; 'tiny', random toy weights, only when named)",
            "model_required",
        )
    try:
        ModelSpec.parse(chosen)
    except ValueError as exc:
        raise RequestRejected.one(("--model",), str(exc), "model_spec") from None
    return chosen


def deployment_description(settings: JobSettings) -> str:
    """Markdown for the deployment's page: the model, the URL schemes the form accepts here, where outputs go."""
    toy = "`tiny` (random toy weights: the pipeline runs, its outputs are noise)"
    model = toy if settings.model == "tiny" else f"`{settings.model}`"
    schemes = "`http(s)://`, `s3://`"
    if settings.allow_local_inputs:
        schemes += ", local paths and `file://` (this deployment reads its own disk)"
    else:
        schemes += " (local paths and `file://` are refused)"
    if is_remote(settings.output_root):
        where = (
            f"`{settings.output_root.rstrip('/')}/<key>/`; the run's link artifacts are presigned https URLs "
            f"valid for {settings.link_expiry_days:g} days"
        )
    else:
        where = (
            f"`{settings.output_root.rstrip('/')}/<key>/` on the worker's disk; "
            "fetch them with `extend-suffix outputs RUN_ID --to DIR`"
        )
    return "\n".join(
        [
            "Train a backward-extension LoRA for LTX-2.3 from a zip of videos.",
            "",
            f"- **Model**: {model}",
            f"- **Input URLs**: {schemes}",
            f"- **Outputs**: {where}",
        ]
    )
