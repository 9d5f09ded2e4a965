"""The extend-suffix job as people see it in the Prefect UI: one flow that reads like the pipeline diagram.

validate -> plan -> validation clips (fitted as the reel will) -> fetch archive -> extract -> probe
-> split (mapped) -> fit (mapped) -> build dataset -> encode -> train -> render validation -> publish

Every stage is content-addressed in the library's store, so a retried run or a new run of the same request finds the
finished stages `Cached` (reused from the store) and training continues from its newest checkpoint. A user's mistake
fails the run at once with the 422 body as its result artifact and 0 billable units.
"""

from typing import Any

from prefect import Flow, flow, get_run_logger
from prefect.deployments import run_deployment
from prefect.states import Failed, State
from pydantic_core import to_jsonable_python

from flows.rejections import quiet_rejection_tracebacks
from flows.runners import task_runner
from ltxcore.errors import RequestRejected
from ltxcore.job.plan import output_prefix, plan_job
from ltxcore.job.recipe import run_intake
from ltxcore.job.rejection import rejection_body, rejection_markdown, rejection_message
from ltxcore.job.request import ExtendSuffixRequest, ExtendSuffixResult, parse_request
from ltxcore.job.settings import JobSettings
from ltxcore.manifests import LatentCache, ValidationClip
from ltxcore.sample.extend import ExtendSettings
from ltxcore.train.config import LoraRun, TrainConfig
from tasks import dataset, model, publish
from tasks.common import collect_receipt
from tasks.result_record import record_result

quiet_rejection_tracebacks()  # a served run's engine re-raises a rejection after the run ended Failed


# Prefect's own parameter validation is off: a run created without the server checking its parameters (the UI's
# "Validate parameters" switched off, an API client that skips it) would otherwise end in a ParameterTypeError
# traceback before the flow starts. The flow validates the request itself, so every mistake ends as the same 422.
# The parameter schema (the UI form, the server's 409) still comes from the annotation.
FLOW_OPTIONS: dict[str, Any] = {"name": "extend-suffix", "log_prints": True, "persist_result": True}


@flow(**FLOW_OPTIONS, validate_parameters=False)
def extend_suffix(request: ExtendSuffixRequest) -> ExtendSuffixResult | State:
    """Train a backward-extension LoRA for LTX-2.3 from a zip of videos."""
    # A served deployment's settings are its worker's environment, read here at the run's start and nowhere below
    # (not at import: a module imported once serves many runs).
    return run_job(request, JobSettings())


def job_flow(settings: JobSettings) -> Flow[[ExtendSuffixRequest], ExtendSuffixResult | State]:
    """The same job as a flow run in this process, under settings its caller resolved (the CLI's `run` and `demo`:
    this process is the deployment). The settings are bound here, not passed as a flow parameter, so they are never
    stored with the run or shown in its parameters."""

    def extend_suffix(request: ExtendSuffixRequest) -> ExtendSuffixResult | State:
        return run_job(request, settings)

    return flow(**FLOW_OPTIONS)(extend_suffix)


def run_job(request: ExtendSuffixRequest | Any, settings: JobSettings) -> ExtendSuffixResult | State:
    """The flow's body under resolved settings: the result, or a Failed state carrying the 422."""
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
    # 2. intake (ltxcore.job.recipe): validation clips, fetch, extract, probe, split, fit, build the dataset; the
    # mapped stages (split, fit) run on the task runner the settings name (EXTEND_SUFFIX_TASK_RUNNER, at most
    # EXTEND_SUFFIX_MAX_PARALLEL at once; see flows/runners.py)
    with task_runner(settings.task_runner, settings.max_parallel) as runner:
        intake = run_intake(plan, dataset.TaskStages(runner))
    validation, manifest = intake.validation, intake.dataset
    dataset.dataset_report(manifest, plan.workload, settings.gpu)  # here, not in the task: a Cached stage shows it too
    for warning in manifest.warnings:
        get_run_logger().warning(warning)
    # 3. model: encode once, then train (resuming from the newest checkpoint if a run was cut short)
    # (the training cache holds only what training reads; the validation texts are embedded apart, so changing
    # them re-encodes no clip and retrains nothing)
    cache = model.encode(manifest, settings)
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
    receipt = collect_receipt(settings)  # what every stage so far used (publish itself writes it)
    return publish.publish(
        settings,
        prefix,
        run.lora_path,
        run.config_path,
        plan.billable_units,
        video,
        intake.debug_zip,
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
