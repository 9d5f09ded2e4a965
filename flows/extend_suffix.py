"""The extend-suffix job as people see it in the Prefect UI: one flow that reads like the pipeline diagram.

validate -> fetch validation clips -> fetch archive -> extract -> probe -> split (mapped) -> fit (mapped)
-> build dataset -> encode -> train -> render validation -> publish

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

from flows.runners import task_runner_from_env
from ltxcore.errors import RequestRejected
from ltxcore.intake.fit import FitSettings
from ltxcore.job.request import ExtendSuffixRequest, ExtendSuffixResult, billable_units, validate_request
from ltxcore.manifests import LatentCache, ValidationClip
from ltxcore.sample.extend import ExtendSettings
from ltxcore.settings import JobSettings
from ltxcore.store.keys import content_key
from ltxcore.train.config import LoraRun, TrainConfig
from tasks import dataset, model, publish


# The mapped stages run on the task runner the deployment names (EXTEND_SUFFIX_TASK_RUNNER; see flows/runners.py).
@flow(name="extend-suffix", log_prints=True, persist_result=True, task_runner=task_runner_from_env())
def extend_suffix(request: ExtendSuffixRequest) -> ExtendSuffixResult | State:
    """Train a backward-extension LoRA for LTX-2.3 from a zip of videos."""
    settings = JobSettings.from_env()
    try:
        return _run(request, settings)
    except RequestRejected as exc:
        return _rejected(exc)


def _run(request: ExtendSuffixRequest, settings: JobSettings) -> ExtendSuffixResult:
    logger = get_run_logger()
    # 1. the contract: cross-field rules and where inputs may come from (the schema already held the field limits)
    validate_request(request, allow_local=settings.allow_local_inputs)
    work = settings.work_root
    # 2. intake: validation clips first (small, and a bad one must fail before the heavy work)
    validation = dataset.check_validation_clips(request, settings)
    archive = dataset.fetch_archive(request.training_data_url, settings)
    extracted = dataset.extract(archive, work)
    probed = dataset.probe(extracted, work, request.with_audio)
    sources = probed.clips
    if request.split_input_into_scenes:
        scenes = dataset.split.map(
            probed.clips, unmapped(request.split_input_duration_threshold), unmapped(work)
        ).result()
        sources = [s for group in scenes for s in group]
    width, height = settings.train_size(request.size)
    fit_settings = FitSettings.from_request(request, width=width, height=height)
    fitted = dataset.fit.map(sources, unmapped(fit_settings), unmapped(work)).result()
    manifest = dataset.build(fitted, probed.skipped, fit_settings, request.conditioning_frames, validation)
    for warning in manifest.warnings:
        logger.warning(warning)
    debug_zip = dataset.debug_zip(manifest, work) if request.debug_dataset else None
    # 3. model: encode once, then train (resuming from the newest checkpoint if a run was cut short)
    prompts = [v.prompt for v in request.validation]
    cache = model.encode(manifest, settings, request.validation_negative_prompt, prompts)
    extend = None
    if validation:
        vw, vh = settings.bucket_override or request.validation_size
        extend = ExtendSettings.for_validation(request, width=vw, height=vh, steps=settings.sample_steps)
    config = TrainConfig.from_request(request, base_model=settings.model, **settings.trainer_settings())
    run = _train(cache, config, settings, validation, extend)
    assert run.lora_path and run.config_path, "a finished training run names its LoRA and config"
    # 4. validation reel: each closing clip extended backward with the trained LoRA (previews came during training)
    video = model.render(run, cache, validation, extend, settings) if extend else None
    # 5. publish under a prefix unique to this request
    prefix = f"{settings.output_root.rstrip('/')}/{content_key('outputs', 1, request=request, run=run)}"
    return publish.publish(
        prefix, run.lora_path, run.config_path, billable_units(request.number_of_steps, True), video, debug_zip
    )


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
