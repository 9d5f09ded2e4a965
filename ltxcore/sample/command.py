"""`extend-suffix extend` as one plain function: the CLI parses its flags and calls `extend_command`.

The suffix length and the audio switch default to what the LoRA was trained with (its safetensors metadata, written
by the training stage); a file without that metadata (made elsewhere) falls back to the request defaults.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from pydantic import ValidationError

from ltxcore.errors import RequestRejected
from ltxcore.geometry import bucket, snap_frames
from ltxcore.model.lora import inspect_lora
from ltxcore.model.spec import ModelSpec
from ltxcore.sample.extend import ExtendSettings, ExtensionResult, extend_video, load_sampling_parts
from ltxcore.sample.options import ExtendOptions

DEFAULT_CONDITIONING_FRAMES = 8
MIN_SIDE = 64


def lora_metadata(path: Path) -> dict[str, object]:
    """How the LoRA was trained (the training stage's metadata; {} for a file made elsewhere), checked: a file that is
    not a LoRA in this format, or whose metadata is not what training writes, is a 422 naming --lora."""
    try:
        meta = inspect_lora(path)
    except ValueError as exc:
        raise RequestRejected.one(("--lora",), f"{path.name}: {exc}", "lora_file") from None
    frames = meta.get("conditioning_frames")
    valid = isinstance(frames, int) and not isinstance(frames, bool) and frames % 8 == 0 and 8 <= frames <= 121
    if "conditioning_frames" in meta and not valid:
        raise RequestRejected.one(
            ("--lora",),
            f"{path.name}: its metadata says conditioning_frames = {meta['conditioning_frames']!r}, not a multiple "
            "of 8 from 8 to 121; give --conditioning-frames",
            "lora_metadata",
        )
    if "with_audio" in meta and not isinstance(meta["with_audio"], bool):
        raise RequestRejected.one(
            ("--lora",),
            f"{path.name}: its metadata says with_audio = {meta['with_audio']!r}, not true or false; give "
            "--with-audio or --without-audio",
            "lora_metadata",
        )
    return meta


def extend_command(
    lora: Path,
    video: Path,
    prompt: str,
    output: Path,
    options: ExtendOptions,
    *,
    model: str = "tiny",
    device: str | None = None,
    size: tuple[int, int] | None = None,
) -> ExtensionResult:
    """Extend `video` backward with the LoRA at `lora` and write `output` (`frames`, snapped to 8k+1, per round)."""
    o = options
    meta = lora_metadata(Path(lora))
    width, height = size or bucket(o.resolution, o.aspect)  # `size` replaces the bucket (tiny-model smoke runs)
    if min(width, height) < MIN_SIDE:  # the VAE's decoder pads by more than a 32 px frame has
        raise RequestRejected.one(("--bucket",), f"{width}x{height}: each side must be at least {MIN_SIDE}", "size")
    conditioning = o.conditioning_frames or meta.get("conditioning_frames", DEFAULT_CONDITIONING_FRAMES)
    if conditioning >= snap_frames(o.frames):
        raise RequestRejected.one(
            ("--conditioning-frames",),
            f"conditioning_frames ({conditioning}) must be smaller than --frames ({snap_frames(o.frames)} after "
            "snapping to 8k+1): there is no lead-in left to generate",
            "value_error",
        )
    settings = _settings(
        num_frames=snap_frames(o.frames),
        fps=o.fps,
        width=width,
        height=height,
        conditioning_frames=int(conditioning),
        with_audio=bool(meta.get("with_audio", False)) if o.with_audio is None else o.with_audio,
        negative_prompt=o.negative_prompt,
        steps=o.steps,
        cfg=o.cfg,
        stg_scale=o.stg_scale,
        modality_scale=o.modality_scale,
        seed=o.seed,
    )
    check_output(Path(output))  # before any model work: a bad path must not waste the sampling
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    components = load_sampling_parts(model_spec(model), settings.with_audio, dev)
    return extend_video(components, Path(video), prompt, settings, Path(output), lora_path=Path(lora), repeat=o.repeat)


FLAGS = {"num_frames": "--frames", "width": "--bucket", "height": "--bucket"}


def _settings(**fields: object) -> ExtendSettings:
    """ExtendSettings from the flags; a value it refuses is a 422 naming the flag it came from."""
    try:
        return ExtendSettings(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "frames"
        flag = FLAGS.get(name, "--" + name.replace("_", "-"))
        raise RequestRejected.one((flag,), first["msg"].removeprefix("Value error, "), "value_error") from None


def model_spec(text: str) -> ModelSpec:
    """`--model` parsed and resolved to a local directory (an s3:// one synced), or a 422 naming the option."""
    from botocore.exceptions import BotoCoreError, ClientError  # s3fs's credential and endpoint errors

    try:
        spec = ModelSpec.parse(text)
        spec.local_dir()
    except (ValueError, OSError) as exc:
        raise RequestRejected.one(("--model",), f"{text!r}: {str(exc)[:300]}", "model_spec") from None
    except (BotoCoreError, ClientError) as exc:
        raise RequestRejected.one(("--model",), f"{text!r}: cannot read it ({exc})", "model_unreadable") from None
    return spec


def check_output(path: Path) -> None:
    """The output must be a file path in an existing, writable directory."""
    if path.is_dir():
        raise RequestRejected.one(("--output",), f"{path} is a directory; give a file path (.mp4)", "output_path")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise RequestRejected.one(("--output",), f"the directory {parent} does not exist", "output_path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RequestRejected.one(("--output",), f"the directory {parent} is not writable", "output_path")
