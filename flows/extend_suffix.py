"""The extend-suffix job as people see it in the Prefect UI: one flow that reads like the pipeline diagram.

validate -> plan -> validation clips (fitted as the reel will) -> fetch archive -> extract -> probe
-> split (mapped) -> fit (mapped) -> build dataset -> encode -> train -> render validation -> publish

Every stage is content-addressed, so a retried run or a new run of the same request finds the finished stages
`Cached` and training continues from its newest checkpoint. A user's mistake fails the run at once with the 422 body
as its result artifact and 0 billable units.
"""

import json

from prefect import flow, get_run_logger, unmapped
from prefect.artifacts import create_markdown_artifact
from prefect.deployments import run_deployment
from prefect.states import Failed, State
from pydantic_core import to_jsonable_python

from flows.runners import task_runner
from ltxcore.errors import RequestRejected
from ltxcore.job.plan import output_prefix, plan_job
from ltxcore.job.request import ExtendSuffixRequest, ExtendSuffixResult
from ltxcore.job.settings import JobSettings
from ltxcore.manifests import LatentCache, ValidationClip
from ltxcore.sample.extend import ExtendSettings
from ltxcore.train.config import LoraRun, TrainConfig
from tasks import dataset, model, publish
from tasks.common import collect_receipt


# The mapped stages run on the task runner the deployment names (EXTEND_SUFFIX_TASK_RUNNER; see flows/runners.py).
@flow(name="extend-suffix", log_prints=True, persist_result=True, task_runner=task_runner(JobSettings().task_runner))
def extend_suffix(request: ExtendSuffixRequest) -> ExtendSuffixResult | State:
    """Train a backward-extension LoRA for LTX-2.3 from a zip of videos."""
    settings = JobSettings()
    try:
        return _run(request, settings)
    except RequestRejected as exc:
        return _rejected(exc)


def _run(request: ExtendSuffixRequest, settings: JobSettings) -> ExtendSuffixResult:
    # 1. the contract: cross-field rules and where inputs may come from (the schema already held the field limits),
    # then every stage's settings
    plan = plan_job(request, settings)
    work = settings.work_root
    # 2. intake: validation clips first (small, and a bad one must fail before the heavy work)
    validation = dataset.validation_clips(plan.validation, settings)
    if plan.extend:
        model.prefit(validation, plan.extend)
    archive = dataset.fetch_archive(plan.training_data_url, settings)
    probed = dataset.probe(dataset.extract(archive, work), work, plan.with_audio)
    sources = probed.clips
    if plan.scene_threshold_s is not None:
        scenes = dataset.split.map(sources, unmapped(plan.scene_threshold_s), unmapped(work)).result()
        sources = [scene for group in scenes for scene in group]
    fitted = dataset.fit.map(sources, unmapped(plan.fit), unmapped(work)).result()
    manifest = dataset.dataset(fitted, probed.skipped, plan.fit, plan.conditioning_frames, work, request, settings)
    for warning in manifest.warnings:
        get_run_logger().warning(warning)
    debug_zip = dataset.debug_zip(manifest, work) if plan.debug_dataset else None
    # 3. model: encode once, then train (resuming from the newest checkpoint if a run was cut short)
    cache = model.encode(manifest, settings, plan.negative_prompt, plan.prompts)
    run = _train(cache, plan.train, settings, validation, plan.extend)
    assert run.lora_path and run.config_path, "a finished training run names its LoRA and config"
    # 4. validation reel: each closing clip extended backward with the trained LoRA (previews came during training)
    video = model.render(run, cache, validation, plan.extend, settings) if plan.extend else None
    # 5. publish under a prefix unique to this request
    prefix = output_prefix(settings, request, run)
    best = run.best_by("held_out_loss")
    receipt = collect_receipt()  # what every stage so far used (publish itself writes it)
    return publish.publish(prefix, run.lora_path, run.config_path, plan.billable_units, video, debug_zip,
                           best.lora_path if best else None, best.step if best else None, receipt)


def _train(
    cache: LatentCache,
    config: TrainConfig,
    settings: JobSettings,
    validation: list[ValidationClip],
    extend: ExtendSettings | None,
) -> LoraRun:
    """Train here, or on the GPU pool's own deployment when the settings name one."""
    if not settings.train_deployment:
        return model.train(cache, config, settings, validation, extend)
    params = {"cache": cache, "config": config, "validation": validation, "extend": extend}
    child = run_deployment(settings.train_deployment, parameters=to_jsonable_python(params), timeout=None)
    if not child.state.is_completed():
        raise RuntimeError(
            f"the training deployment's run {child.name} ended {child.state.name}: {child.state.message}"
        )
    return LoraRun.model_validate(child.state.result())


def _rejected(exc: RequestRejected) -> State:
    body = exc.body()
    create_markdown_artifact(
        f"**Request rejected (422), 0 billable units**\n\n```json\n{json.dumps({**body, 'billable_units': 0})}\n```",
        key="extend-suffix-result",
        description="Request rejected: 0 billable units",
    )
    first = exc.details[0]
    more = f" (and {len(exc.details) - 1} more problem(s))" if len(exc.details) > 1 else ""
    return Failed(
        message=f"Request rejected: {first.msg}{more}. Nothing was billed.", data={**body, "billable_units": 0}
    )
