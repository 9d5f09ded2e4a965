"""The `extend-suffix` command line: `check`, `prepare`, `model-info` and `extend` import no Prefect."""

import flows  # noqa: F401  (sets Prefect's logging and telemetry defaults before any verb imports Prefect)
