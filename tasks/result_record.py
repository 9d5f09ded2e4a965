"""The run's result record, written last: the result (or the 422 body) as Markdown for people in the Prefect UI, and
the same body as JSON data for programs (the queue API, `extend-suffix submit` and `outputs`), so that no reader has
to find it inside Markdown whose text a user's file names can shape."""

from __future__ import annotations

from typing import Any

from prefect.artifacts import Artifact, create_markdown_artifact

RESULT_KEY = "extend-suffix-result"
RESULT_DATA_KEY = "extend-suffix-result-data"


def record_result(body: dict[str, Any], markdown: str, description: str) -> None:
    create_markdown_artifact(markdown, key=RESULT_KEY, description=description)
    # Prefect stores an artifact's data as the JSON text of `data`; its readers json-decode it.
    Artifact(type="json", key=RESULT_DATA_KEY, data=body, description=description).create()
