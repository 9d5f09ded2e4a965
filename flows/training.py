"""The training stage as a flow of its own, so it can run as a separate deployment on a GPU work pool while the
intake stages run on CPU workers. The main flow calls it with `run_deployment` when EXTEND_SUFFIX_TRAIN_DEPLOYMENT
names one; the child's result (a small LoraRun manifest) travels through Prefect's result storage, so workers on
different machines need a shared result store (PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK) and a shared work root."""

from prefect import flow

from ltxcore.job.settings import JobSettings
from ltxcore.manifests import LatentCache, ValidationClip
from ltxcore.sample.extend import ExtendSettings
from ltxcore.train.config import LoraRun, TrainConfig
from tasks import model


@flow(name="train-lora", persist_result=True)
def train_lora_flow(
    cache: LatentCache,
    config: TrainConfig,
    validation: list[ValidationClip],
    extend: ExtendSettings | None = None,
    texts: LatentCache | None = None,
) -> LoraRun:
    """Train (or resume) the suffix LoRA on a GPU worker; its summary and loss curve show on this run's page too."""
    run = model.train(cache, config, JobSettings(), validation, extend, texts)
    model.training_report(run)
    return run
