"""What can be checked of the infrastructure here: the compose file parses into the services README names, and
`prefect deploy --all` with infra/prefect.yaml registers the deployment on a real Prefect server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_compose_file_defines_server_database_storage_and_both_workers() -> None:
    compose = yaml.safe_load((ROOT / "infra" / "docker-compose.yaml").read_text())
    assert set(compose["services"]) == {"postgres", "prefect", "s3", "cpu-worker", "gpu-worker"}
    assert compose["services"]["gpu-worker"]["build"]["target"] == "gpu"
    assert "--pool" in compose["services"]["cpu-worker"]["entrypoint"]
    dockerfile = (ROOT / "infra" / "Dockerfile").read_text()
    assert "AS cpu" in dockerfile and "AS gpu" in dockerfile


def test_prefect_deploy_registers_the_deployment_on_a_server(prefect_api: None) -> None:
    from prefect.settings import PREFECT_API_URL

    api = PREFECT_API_URL.value()
    env = {**os.environ, "PREFECT_API_URL": api, "EXTEND_SUFFIX_CHECKOUT": str(ROOT)}
    for name in ("cpu-pool", "gpu-pool"):
        pool = subprocess.run(
            [str(BIN / "prefect"), "work-pool", "create", name, "--type", "process"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert pool.returncode == 0, pool.stdout + pool.stderr
    out = subprocess.run(
        [
            str(BIN / "prefect"),
            "--no-prompt",
            "deploy",
            "--all",
            "--prefect-file",
            str(ROOT / "infra" / "prefect.yaml"),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    deployment = httpx.get(f"{api}/deployments/name/extend-suffix/extend-suffix", timeout=30).json()
    assert deployment["work_pool_name"] == "cpu-pool" and deployment["enforce_parameter_schema"] is True
    assert deployment["job_variables"]["env"]["EXTEND_SUFFIX_TRAIN_DEPLOYMENT"] == "train-lora/gpu"
    gpu = httpx.get(f"{api}/deployments/name/train-lora/gpu", timeout=30).json()
    assert gpu["work_pool_name"] == "gpu-pool" and gpu["global_concurrency_limit"]["limit"] == 1
    schema = deployment["parameter_openapi_schema"]
    assert schema["required"] == ["request"]
    request = schema["definitions"]["ExtendSuffixRequest"]["properties"]
    assert request["conditioning_frames"]["multipleOf"] == 8 and request["rank"]["enum"] == [8, 16, 32, 64, 128]
