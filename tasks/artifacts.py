"""The artifacts a run shows in the Prefect UI, made so that everything in them opens from a browser: output links
(presigned https for s3://, a plain location for a worker's disk), images embedded as data URIs, one progress
artifact per stage and one preview table, each updated in place (a retry of the same run reuses them)."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactUpdate
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey
from prefect.runtime import flow_run

from ltxcore.job.download import OUTPUT_FIELDS
from ltxcore.job.links import image_data_uri, local_location, presigned_url
from ltxcore.job.request import ExtendSuffixResult
from ltxcore.job.settings import JobSettings
from ltxcore.media.strip import frame_strip
from ltxcore.sample.reel import ValidationReel
from ltxcore.store.fs import is_remote

PREVIEWS_KEY = "validation-previews"
STRIP_BYTES = 40_000  # per frame strip: a table of 8 previews x 2 clips stays well under a megabyte


def output_artifacts(result: ExtendSuffixResult, settings: JobSettings) -> None:
    """One artifact per output, keyed `lora-file`, `config-file`, `video`, `debug-dataset`, `best-lora-file`."""
    for name in OUTPUT_FIELDS:
        out = getattr(result, name)
        if out is None:
            continue
        key = name.replace("_", "-")
        size = f"{out.file_size:,} bytes"
        if is_remote(out.url):
            days = settings.link_expiry_days
            create_link_artifact(
                presigned_url(out.url, days),
                link_text=out.file_name,
                key=key,
                description=f"{out.file_name} ({size}, {out.url}); the link works for {days:g} days",
            )
            continue
        create_markdown_artifact(
            f"**{out.file_name}** ({size}) is {local_location(out.url)}.\n\n"
            f"Fetch this run's outputs with `extend-suffix outputs {flow_run.get_id()} --to DIR`.",
            key=key,
            description=f"{out.file_name}: on the worker's disk",
        )


def image_artifact(path: str | Path, key: str, description: str) -> None:
    """An image that renders in the UI with no file server: a markdown artifact holding it as a data URI."""
    create_markdown_artifact(f"![{description}]({image_data_uri(Path(path))})", key=key, description=description)


def _existing(key: str) -> UUID | None:
    """This flow run's artifact with `key`, if an earlier attempt (a retry) made one."""
    run_id = flow_run.get_id()
    if not run_id:
        return None
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]), flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(str(run_id))])
            )
        )
    return found[-1].id if found else None


def progress_artifact(key: str, description: str) -> UUID:
    """The stage's progress artifact, at 0 %: this run's existing one (a retry), else a new one."""
    found = _existing(key)
    if found is not None:
        update_progress_artifact(found, 0.0, description=description)
        return found
    return create_progress_artifact(0.0, key=key, description=description)


class PreviewTable:
    """One markdown table of the previews rendered during training, updated in place as each one arrives: step,
    held-out loss, seam ratio and a frame strip per validation clip, and where the preview video is."""

    HEADER = ("| step | held-out loss | clip | seam ratio | frames | preview video |", "|---|---|---|---|---|---|")

    def __init__(self, total_steps: int) -> None:
        self.total_steps = total_steps
        self.rows: list[str] = []
        self.artifact_id: UUID | None = _existing(PREVIEWS_KEY)

    def add(self, step: int, reel: ValidationReel, held_out_loss: float | None) -> None:
        loss = f"{held_out_loss:.4f}" if held_out_loss is not None else "-"
        for entry in reel.entries:
            video = Path(entry.video_path)
            frames = reel.num_frames // max(len(reel.entries), 1)
            strip = frame_strip(video, video.with_suffix(".strip.png"), frames, height=64)  # fits the table's width
            image = f"![frames]({image_data_uri(strip, STRIP_BYTES)})"
            self.rows.append(
                f"| {step} | {loss} | {entry.index} | {entry.seam.ratio:.2f} | {image} | {local_location(str(video))} |"
            )
        self._write()

    def markdown(self) -> str:
        title = f"**Validation previews** rendered with the live LoRA ({self.total_steps} steps in all)"
        return "\n".join([title, "", *self.HEADER, *self.rows])

    def _write(self) -> None:
        description = f"{len(self.rows)} preview(s), updated as training goes"
        if self.artifact_id is None:
            self.artifact_id = create_markdown_artifact(self.markdown(), key=PREVIEWS_KEY, description=description)
            return
        with get_client(sync_client=True) as client:
            client.update_artifact(self.artifact_id, ArtifactUpdate(data=self.markdown(), description=description))
