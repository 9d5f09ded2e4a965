"""The validation reel: every validation clip extended backward, labelled, one after another in ONE mp4 (+ a report).

Each entry shows a header (entry number, step label, seam ratio, what is on screen) and a timeline bar under the
picture: red while the generated lead-in plays, green from the first clean suffix frame on, with a white tick at the
seam and a moving playhead; the frame border takes the same colour. Small previews are scaled up (nearest neighbour)
so the labels stay legible. Files are named by `step_label`, so previews rendered at training intervals stay beside
the final reel and a user can watch the LoRA learn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from pydantic import BaseModel, ConfigDict, Field

from ltxcore.errors import RequestRejected
from ltxcore.manifests import LatentCache, ValidationClip
from ltxcore.media.mux import write_mp4
from ltxcore.media.world import Square
from ltxcore.model.cache import cached_text
from ltxcore.model.encode import encode_video
from ltxcore.model.forward import TextBatch
from ltxcore.model.loader import Components
from ltxcore.model.lora import merge_lora
from ltxcore.model.spec import ModelSpec
from ltxcore.sample.closing import validation_errors
from ltxcore.sample.decode import decode_video
from ltxcore.sample.extend import (
    ExtendSettings,
    Extension,
    PreparedClosing,
    closing_from_file,
    encode_text,
    extend_frames,
    load_sampling_parts,
    release_text,
    write_extension,
)
from ltxcore.sample.seam import SeamMetric
from ltxcore.sample.world_metric import (
    MISSING_PX,
    WorldMetric,
    WorldRow,
    infer_state,
    score,
    true_lead_in,
    world_metric,
)
from ltxcore.store.atomic import atomic_write_text

MIN_WIDTH = 384  # entries narrower than this are scaled up by a whole factor
LEAD_COLOUR = (220, 50, 50)
SUFFIX_COLOUR = (40, 190, 80)


class ReelEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int = Field(description="Position in the request's `validation` list.")
    url: str
    prompt: str
    video_path: str = Field(description="This entry's own extended clip (unlabelled).")
    seam: SeamMetric
    world: WorldMetric | None = Field(
        default=None, description="Lead-in error against the true past, for a closing clip of the toy world."
    )


class ValidationReel(BaseModel):
    """One rendering of the validation set: the reel mp4, its report, and the entries in it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    step_label: str
    video_path: str = Field(description="The reel: all entries, labelled, one after another.")
    report_json: str
    report_md: str
    entries: list[ReelEntry]
    num_frames: int = Field(description="Frames of the whole reel.")
    fps: float
    has_audio: bool


def cached_validation_texts(
    cache: LatentCache, clips: Sequence[ValidationClip], negative_prompt: str
) -> list[TextBatch] | None:
    """Each clip's prompt and the negative prompt as the latent cache holds them (encoded with the dataset), or None
    if one is missing there; with them the reel needs no text encoder."""
    texts = [cached_text(cache, [clip.prompt, negative_prompt]) for clip in clips]
    return None if any(t is None for t in texts) else [t for t in texts if t is not None]


def validation_texts(components: Components, clips: Sequence[ValidationClip], negative_prompt: str) -> list[TextBatch]:
    """Each clip's prompt and the negative prompt encoded with the components' text encoder, which is released after
    (for a cache that lacks them; see `cached_validation_texts`)."""
    texts = [encode_text(components, clip.prompt, negative_prompt) for clip in clips]
    release_text(components)
    return texts


def render_validation(
    validation_clips: Sequence[ValidationClip],
    lora_path: Path | None,
    settings: ExtendSettings,
    out_dir: Path,
    *,
    spec: ModelSpec | None = None,
    device: str | torch.device = "cpu",
    step_label: str = "final",
    components: Components | None = None,
    texts: Sequence[TextBatch] | None = None,
    title_note: str = "",
    closings: dict[int, PreparedClosing] | None = None,
) -> ValidationReel:
    """Extend every validation clip and write `reel-<step_label>.mp4` and `report-<step_label>.{json,md}`.

    Pass `components` to reuse loaded parts (a training loop's transformer with its live adapter, `lora_path` None);
    otherwise they are loaded from `spec` on `device`, without the text encoder when `texts` (each clip's prompt and
    negative prompt, see `cached_validation_texts`) are given. `lora_path` is merged into the transformer's weights.
    `closings` (validation index -> prepared closing clip) is filled on first use and reused after: previews pass
    the same dict each time, so each clip is fitted, encoded and its closing frames decoded once per run.
    `title_note` is added to each entry's header (the final reel: which step each best-checkpoint score chose).
    Clips too short for the suffix raise `RequestRejected` first.
    """
    check_validation(validation_clips, settings)
    if components is None:
        assert spec is not None, "give a model spec or loaded components"
        components = load_sampling_parts(spec, settings.with_audio, device, with_text=texts is None)
    if texts is None:
        texts = validation_texts(components, validation_clips, settings.negative_prompt)
    closings = prepare_closings(components, validation_clips, settings, {} if closings is None else closings)
    # Closing clips of the toy world have a known past: score the base (before the LoRA is merged) and the VAE's
    # floor beside the LoRA. Previews (a live adapter, no LoRA file) score the adapter alone.
    firsts = {c.index: infer_state(closings[c.index].original) for c in validation_clips}
    baselines: dict[int, list[WorldRow]] = {}
    if lora_path is not None:
        baselines = score_baselines(components, validation_clips, texts, closings, firsts, settings)
        merge_lora(components.transformer, lora_path)
    entry_dir = Path(out_dir) / step_label
    extensions, entries = render_entries(
        components, validation_clips, texts, closings, firsts, baselines, settings, entry_dir
    )
    return write_reel(extensions, entries, settings, Path(out_dir), step_label, title_note)


def check_validation(validation_clips: Sequence[ValidationClip], settings: ExtendSettings) -> None:
    """Clips too short for the suffix raise `RequestRejected` (all of them at once) before any model work."""
    errors = validation_errors(list(validation_clips), settings.conditioning_frames, settings.fps)
    if errors:
        raise RequestRejected(errors)
    assert validation_clips, "no validation clips to render"


def prepare_closings(
    components: Components,
    validation_clips: Sequence[ValidationClip],
    settings: ExtendSettings,
    closings: dict[int, PreparedClosing],
) -> dict[int, PreparedClosing]:
    """`closings` (validation index -> prepared closing clip) with every clip missing from it fitted and encoded; the
    same dict, so a caller that keeps it (previews) prepares each clip once per run."""
    for clip in validation_clips:
        if clip.index not in closings:
            loc = ("body", "validation", clip.index, "video_url")
            closings[clip.index] = closing_from_file(components, Path(clip.path), settings, loc)
    return closings


def score_baselines(
    components: Components,
    validation_clips: Sequence[ValidationClip],
    texts: Sequence[TextBatch],
    closings: dict[int, PreparedClosing],
    firsts: dict[int, Square | None],
    settings: ExtendSettings,
) -> dict[int, list[WorldRow]]:
    """For each toy-world clip (a known first state in `firsts`), the base model's and the VAE floor's rows; run
    before the LoRA is merged, since the base is the transformer as loaded."""
    baselines: dict[int, list[WorldRow]] = {}
    for clip, text in zip(validation_clips, texts, strict=True):
        first = firsts[clip.index]
        if first is not None:
            base = extend_frames(components, closings[clip.index], text.to(components.device), settings)
            baselines[clip.index] = [
                score("base", base.frames, settings.lead_in_frames, first),
                _floor(components, closings[clip.index], first, settings),
            ]
    return baselines


def render_entries(
    components: Components,
    validation_clips: Sequence[ValidationClip],
    texts: Sequence[TextBatch],
    closings: dict[int, PreparedClosing],
    firsts: dict[int, Square | None],
    baselines: dict[int, list[WorldRow]],
    settings: ExtendSettings,
    entry_dir: Path,
) -> tuple[list[Extension], list[ReelEntry]]:
    """Each clip extended with the transformer as it now is, written to `entry_dir/entry-<index>.mp4`, and scored
    against the true past (beside its baselines) when it is a toy-world clip."""
    extensions, entries = [], []
    for clip, text in zip(validation_clips, texts, strict=True):
        ext = extend_frames(components, closings[clip.index], text.to(components.device), settings)
        written = write_extension(ext, settings, entry_dir / f"entry-{clip.index}.mp4")
        first = firsts[clip.index]
        metric = None
        if first is not None:
            rows = [score("lora", ext.frames, settings.lead_in_frames, first), *baselines.get(clip.index, [])]
            metric = world_metric(first, settings.lead_in_frames, rows)
        extensions.append(ext)
        entries.append(
            ReelEntry(
                index=clip.index,
                url=clip.url,
                prompt=clip.prompt,
                video_path=written.video_path,
                seam=written.seam,
                world=metric,
            )
        )
    return extensions, entries


def write_reel(
    extensions: list[Extension],
    entries: list[ReelEntry],
    settings: ExtendSettings,
    out_dir: Path,
    step_label: str,
    title_note: str,
) -> ValidationReel:
    """The entries labelled and composed into `reel-<step_label>.mp4`, and the report beside it (json and md)."""
    reel_path = out_dir / f"reel-{step_label}.mp4"
    frames, audio, rate = _compose(extensions, entries, settings, f"{step_label} {title_note}".strip())
    write_mp4(reel_path, frames, settings.fps, audio, rate)
    reel = ValidationReel(
        step_label=step_label,
        video_path=str(reel_path),
        report_json=str(out_dir / f"report-{step_label}.json"),
        report_md=str(out_dir / f"report-{step_label}.md"),
        entries=entries,
        num_frames=frames.shape[0],
        fps=settings.fps,
        has_audio=audio is not None,
    )
    atomic_write_text(reel.report_json, reel.model_dump_json(indent=2))
    atomic_write_text(reel.report_md, report_markdown(reel))
    return reel


def _floor(components: Components, closing: PreparedClosing, first: Square, s: ExtendSettings) -> WorldRow:
    """The true past and the closing frames through the VAE: the error no transformer can get under."""
    truth = np.concatenate([true_lead_in(first, s.lead_in_frames), closing.original])  # [num_frames, 128, 128, 3]
    latents = encode_video(components, truth)  # [128, F', h, w]
    return score("floor", decode_video(components, latents[None]), s.lead_in_frames, first)


def report_markdown(reel: ValidationReel) -> str:
    lines = [
        f"# Validation reel ({reel.step_label})",
        "",
        "Seam ratio: the jump from the last generated frame into the first clean frame, over the median "
        "frame-to-frame change inside the clean suffix (about 1 = seamless).",
        "",
        "| # | prompt | seam ratio | seam diff | suffix median diff | clip |",
        "|---|---|---|---|---|---|",
    ]
    for e in reel.entries:
        prompt = e.prompt.replace("|", "\\|")
        lines.append(
            f"| {e.index} | {prompt} | {e.seam.ratio:.2f} | {e.seam.seam_diff:.4f} | "
            f"{e.seam.suffix_median_diff:.4f} | {Path(e.video_path).name} |"
        )
    worlds = [e for e in reel.entries if e.world is not None]
    if worlds:
        lines += [
            "",
            "## Toy world: the lead-in against the true past",
            "",
            "The square tracked in each generated lead-in frame against where it truly was (a frame with no square "
            f"counts {MISSING_PX:.0f} px). base: no LoRA; lora: the trained LoRA; floor: the true clip through the "
            "VAE. Seam jump: the centre's move from the last generated to the first suffix frame, beside the true "
            "step.",
            "",
            "| # | row | mean error px | frames without a square | seam jump px | true step px |",
            "|---|---|---|---|---|---|",
        ]
        for e in worlds:
            for r in e.world.rows:
                lines.append(
                    f"| {e.index} | {r.label} | {r.mean_error_px:.2f} | {r.missing_frames} | {r.seam_jump_px:.2f} | "
                    f"{r.true_step_px:.2f} |"
                )
    return "\n".join(lines) + "\n"


def _compose(
    extensions: list[Extension], entries: list[ReelEntry], s: ExtendSettings, step_label: str
) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Labelled frames of every entry, one after another: uint8 [sum F, H', W', 3], and their audio [2, S] likewise."""
    frames = [
        label_frames(
            x.frames,
            x.frames.shape[0] - s.conditioning_frames,
            f"#{e.index + 1}  {step_label}  seam x{e.seam.ratio:.2f}  "
            + (f"{e.world.summary()}  " if e.world else "")
            + e.prompt,
        )
        for x, e in zip(extensions, entries, strict=True)
    ]
    with_audio = all(x.audio is not None for x in extensions)
    audio = np.concatenate([x.audio for x in extensions], axis=1) if with_audio else None  # [2, S]
    return np.concatenate(frames), audio, extensions[0].sample_rate


def label_frames(frames: np.ndarray, lead_in: int, title: str) -> np.ndarray:
    """uint8 [F, H, W, 3] -> [F, H', W', 3]: scaled up if small, a header above, a lead-in/suffix timeline below."""
    f, h, w, _ = frames.shape
    scale = max(1, math.ceil(MIN_WIDTH / w))
    big = frames.repeat(scale, axis=1).repeat(scale, axis=2)  # [F, sH, sW, 3]
    font = ImageFont.load_default(size=max(12, w * scale // 40))
    header = int(font.size * 2.8) // 2 * 2
    bar = max(8, header // 3) // 2 * 2
    out = []
    for t in range(f):
        colour = LEAD_COLOUR if t < lead_in else SUFFIX_COLOUR
        canvas = Image.new("RGB", (w * scale, h * scale + header + bar), (16, 16, 24))
        canvas.paste(Image.fromarray(big[t]), (0, header))
        draw = ImageDraw.Draw(canvas)
        draw.rectangle([0, header, w * scale - 1, header + h * scale - 1], outline=colour, width=max(2, scale))
        state = (
            f"GENERATED LEAD-IN {t + 1}/{lead_in}" if t < lead_in else f"CLEAN SUFFIX {t - lead_in + 1}/{f - lead_in}"
        )
        draw.text((6, 2), _fit(title, font, w * scale - 12), fill=(235, 235, 235), font=font)
        draw.text((6, 2 + font.size * 1.3), state, fill=colour, font=font)
        _timeline(draw, w * scale, header + h * scale, bar, f, lead_in, t)
        out.append(np.asarray(canvas))
    return np.stack(out)  # [F, H', W', 3]


def _fit(text: str, font: ImageFont.FreeTypeFont, width: int) -> str:
    """`text`, cut with an ellipsis to fit `width` pixels (long prompts)."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "...") > width:
        text = text[:-1]
    return text + "..."


def _timeline(draw: ImageDraw.ImageDraw, width: int, top: int, height: int, frames: int, lead_in: int, t: int) -> None:
    seam_x = round(width * lead_in / frames)
    draw.rectangle([0, top, seam_x, top + height - 1], fill=LEAD_COLOUR)
    draw.rectangle([seam_x, top, width - 1, top + height - 1], fill=SUFFIX_COLOUR)
    draw.rectangle([seam_x - 1, top, seam_x + 1, top + height - 1], fill=(255, 255, 255))
    head = round(width * (t + 0.5) / frames)
    draw.rectangle([head - 1, top + height // 3, head + 1, top + height - 1], fill=(20, 20, 20))
