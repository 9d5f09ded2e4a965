"""The extend-suffix job as people see it in the Prefect UI: one flow that reads like the pipeline diagram.

validate -> plan -> validation clips (fitted as the reel will) -> fetch archive -> extract -> probe
-> split (mapped) -> fit (mapped) -> build dataset -> encode -> train -> render validation -> publish

Every stage is content-addressed, so a retried run or a new run of the same request finds the finished stages
`Cached` and training continues from its newest checkpoint. A user's mistake fails the run at once with the 422 body
as its result artifact and 0 billable units.
"""

from typing import Any

from prefect import flow, get_run_logger, unmapped
from prefect.deployments import run_deployment
from prefect.states import Failed, State
from pydantic_core import to_jsonable_python

from flows.rejections import quiet_rejection_tracebacks
from flows.runners import task_runner
from ltxcore.errors import RequestRejected
from ltxcore.job.plan import output_prefix, plan_job
from ltxcore.job.rejection import rejection_body, rejection_markdown, rejection_message
from ltxcore.job.request import ExtendSuffixRequest, ExtendSuffixResult, parse_request
from ltxcore.job.settings import JobSettings
from ltxcore.manifests import LatentCache, ValidationClip
from ltxcore.prompts import DEFAULT_NEGATIVE_PROMPT
from ltxcore.sample.extend import ExtendSettings
from ltxcore.train.config import LoraRun, TrainConfig
from tasks import dataset, model, publish
from tasks.common import collect_receipt
from tasks.result_record import record_result

quiet_rejection_tracebacks()  # a served run's engine re-raises a rejection after the run ended Failed


# The mapped stages run on the task runner the deployment names (EXTEND_SUFFIX_TASK_RUNNER; see flows/runners.py).
# Prefect's own parameter validation is off: a run created without the server checking its parameters (the UI's
# "Validate parameters" switched off, an API client that skips it) would otherwise end in a ParameterTypeError
# traceback before the flow starts. The flow validates the request itself, so every mistake ends as the same 422.
# The parameter schema (the UI form, the server's 409) still comes from the annotation.
@flow(
    name="extend-suffix",
    log_prints=True,
    persist_result=True,
    validate_parameters=False,
    task_runner=task_runner(JobSettings().task_runner),
)
def extend_suffix(request: ExtendSuffixRequest) -> ExtendSuffixResult | State:
    """Train a backward-extension LoRA for LTX-2.3 from a zip of videos."""
    settings = JobSettings()
    try:
        return _run(_request(request), settings)
    except RequestRejected as exc:
        return _rejected(exc)


def _request(request: ExtendSuffixRequest | Any) -> ExtendSuffixRequest:
    """The request as the flow received it: a model when called in-process, JSON from the API (unchecked when the
    server skipped validation)."""
    if isinstance(request, ExtendSuffixRequest):
        return request
    return parse_request(request)  # local sources are checked against the deployment's rule in plan_job


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
    # the trigger phrase goes into the captions there, after fitting, so changing it re-runs no ffmpeg
    manifest = dataset.dataset(fitted, probed.skipped, plan.fit, plan.conditioning_frames, plan.trigger_phrase, work)
    dataset.dataset_report(manifest, plan.workload, settings.gpu)  # here, not in the task: a Cached stage shows it too
    for warning in manifest.warnings:
        get_run_logger().warning(warning)
    debug_zip = dataset.debug_zip(manifest, work) if plan.debug_dataset else None
    # 3. model: encode once, then train (resuming from the newest checkpoint if a run was cut short)
    # (the training cache holds only what training reads; the validation texts are embedded apart, so changing
    # them re-encodes no clip and retrains nothing)
    cache = model.encode(manifest, settings, DEFAULT_NEGATIVE_PROMPT, [])
    texts = model.encode_texts(cache, settings, plan.negative_prompt, plan.prompts) if plan.extend else None
    run = _train(cache, plan.train, settings, validation, plan.extend, texts)
    assert run.lora_path and run.config_path, "a finished training run names its LoRA and config"
    model.training_report(run)
    # 4. validation reel: each closing clip extended backward with the trained LoRA (previews came during training)
    reel = model.render(run, texts, validation, plan.extend, settings) if plan.extend and texts else None
    if reel is not None:
        model.reel_report(reel)
    video = reel.video_path if reel is not None else None
    # 5. publish under a prefix unique to this request
    prefix = output_prefix(settings, request, run)
    best = run.best_by("held_out_loss")
    receipt = collect_receipt()  # what every stage so far used (publish itself writes it)
    return publish.publish(
        prefix,
        run.lora_path,
        run.config_path,
        plan.billable_units,
        video,
        debug_zip,
        best.lora_path if best else None,
        best.step if best else None,
        receipt,
    )


def _train(
    cache: LatentCache,
    config: TrainConfig,
    settings: JobSettings,
    validation: list[ValidationClip],
    extend: ExtendSettings | None,
    texts: LatentCache | None,
) -> LoraRun:
    """Train here, or on the GPU pool's own deployment when the settings name one."""
    if not settings.train_deployment:
        return model.train(cache, config, settings, validation, extend, texts)
    params = {"cache": cache, "config": config, "validation": validation, "extend": extend, "texts": texts}
    child = run_deployment(settings.train_deployment, parameters=to_jsonable_python(params), timeout=None)
    if not child.state.is_completed():
        raise RuntimeError(
            f"the training deployment's run {child.name} ended {child.state.name}: {child.state.message}"
        )
    return LoraRun.model_validate(child.state.result())


def _rejected(exc: RequestRejected) -> State:
    """End the run Failed with the 422 body (pretty-printed, every mistake listed) and 0 units. The state carries the
    exception itself: a Failed state whose data is not an exception makes Prefect log a TypeError traceback."""
    record_result(rejection_body(exc), rejection_markdown(exc), "Request rejected: 0 billable units")
    return Failed(message=rejection_message(exc), data=exc)
