"""The request contract of the `/extend-suffix` endpoint, and its result and billing rule.

Hard limits live in `Field(...)` so that Prefect's parameter schema (and so its server) rejects them before a run
exists; cross-field rules are validators. `parse_request` is the one entry point that turns untrusted JSON into a
normalised request or a `RequestRejected` whose messages name the field, the rule and the value.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from ltxcore.errors import ErrorDetail, RequestRejected
from ltxcore.geometry import AspectRatio, Resolution, bucket, snap_frames
from ltxcore.intake.captions import code_points, control_characters
from ltxcore.intake.urls import is_local_url, url_problem
from ltxcore.job.receipt import Receipt
from ltxcore.job.untrusted_json import load_json, value_errors
from ltxcore.prompts import DEFAULT_NEGATIVE_PROMPT

URL_SCHEMES = ("http", "https", "s3", "file")


def _check_url(url: str) -> str:
    url = url.strip()
    if not url:
        raise ValueError("must not be empty")
    scheme = urlparse(url).scheme.lower()
    if not is_local_url(url) and scheme not in URL_SCHEMES:
        raise ValueError(f"must be an http(s)://, s3:// or file:// URL or a local path (got scheme {scheme!r})")
    if scheme in ("http", "https", "s3") and not urlparse(url).netloc:
        raise ValueError(f"has no host or bucket (got {_short(url)})")
    problem = url_problem(url)
    if problem:
        raise ValueError(f"{problem} (got {_short(url)})")
    return url


# The scheme rule of `_check_url` as a JSON-schema pattern, so that Prefect's server (and the UI form) refuse an
# ftp:// URL before a run exists: an allowed scheme, or no scheme at all (a local path; a one-letter "scheme" is a
# Windows drive). Only the schema carries it; pydantic's own check is `_check_url` (its regex engine has no lookahead).
URL_PATTERN = r"^\s*(?:(?:[Hh][Tt][Tt][Pp][Ss]?|[Ss]3|[Ff][Ii][Ll][Ee]):|(?![A-Za-z][A-Za-z0-9+.-]+:))\S"
Url = Annotated[str, AfterValidator(_check_url), Field(json_schema_extra={"pattern": URL_PATTERN})]
SnappedFrames = Annotated[int, Field(ge=9, le=121), AfterValidator(snap_frames)]


def _check_text(text: str) -> str:
    """Prompt text holds no control characters but tabs and line breaks, the captions' rule: a NUL or an escape
    sequence in a prompt is a paste gone wrong, and would be trained on or sampled with."""
    bad = control_characters(text)
    if bad:
        raise ValueError(f"holds control characters ({code_points(bad)}); give plain text")
    return text


Text = Annotated[str, AfterValidator(_check_text)]
TRIGGER_MAX = 1000  # characters: a phrase of a few words; the text encoder reads at most a few hundred tokens
_FORBID = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # NaN/inf refused in every float field


class ValidationSample(BaseModel):
    """One validation preview: a closing clip to extend backward and the prompt to extend it with."""

    model_config = _FORBID

    video_url: Url = Field(
        description="A video to extend backward. Its last `conditioning_frames` frames are the suffix."
    )
    prompt: Text = Field(default="", description="The text prompt (include the trigger phrase).")


class ExtendSuffixRequest(BaseModel):
    """Train a LoRA that generates the lead-in to a clean closing window (backward video extension)."""

    model_config = _FORBID

    # Dataset
    training_data_url: Url = Field(description="URL to the .zip archive of videos (with optional .txt captions).")
    trigger_phrase: Text = Field(
        default="", max_length=TRIGGER_MAX, description="Phrase prepended to captions during training."
    )
    # Training
    rank: Literal[8, 16, 32, 64, 128] = Field(default=32, description="LoRA capacity.")
    number_of_steps: int = Field(default=2000, ge=100, le=20000, description="Number of optimization steps.")
    learning_rate: float = Field(default=0.0002, gt=0, description="Optimization step size.")
    conditioning_frames: int = Field(
        default=8,
        ge=8,
        le=121,
        multiple_of=8,
        description="Trailing frames kept as the clean suffix the model leads up to; a multiple of 8.",
    )
    # Video
    number_of_frames: SnappedFrames = Field(
        default=89, description="Frames per training clip; snapped down to 8k+1 (90 -> 89)."
    )
    frame_rate: int = Field(default=24, ge=8, le=60, description="Target frames per second.")
    resolution: Resolution = Field(default="medium", description="Resolution bucket for training clips.")
    aspect_ratio: AspectRatio = Field(default="1:1", description="Aspect ratio of training clips.")
    auto_scale_input: bool = Field(default=False, description="Resample clips to the target frame count and rate.")
    split_input_into_scenes: bool = Field(default=True, description="Split long clips into scenes before training.")
    split_input_duration_threshold: float = Field(
        default=30.0, ge=1.0, le=60.0, description="Duration in seconds above which a clip is scene-split."
    )
    # Audio
    with_audio: bool = Field(default=False, description="Jointly extend audio and video (every clip needs audio).")
    audio_normalize: bool = Field(default=True, description="Peak-normalize audio (with audio extension).")
    audio_preserve_pitch: bool = Field(default=True, description="Preserve pitch when fitting audio to duration.")
    # Validation
    validation: list[ValidationSample] = Field(default_factory=list, max_length=2, description="Validation samples.")
    validation_negative_prompt: Text = Field(
        default=DEFAULT_NEGATIVE_PROMPT, description="Negative prompt for previews."
    )
    validation_number_of_frames: SnappedFrames = Field(
        default=89, description="Frames of each validation preview; snapped down to 8k+1."
    )
    validation_frame_rate: int = Field(default=24, ge=8, le=60, description="Frame rate of validation previews.")
    validation_resolution: Resolution = Field(default="high", description="Resolution bucket of previews.")
    validation_aspect_ratio: AspectRatio = Field(default="1:1", description="Aspect ratio of previews.")
    stg_scale: float = Field(default=1.0, ge=0.0, le=3.0, description="Spatio-temporal guidance scale (0 = off).")
    debug_dataset: bool = Field(default=False, description="Also return an archive of the preprocessed data.")

    @property
    def size(self) -> tuple[int, int]:
        return bucket(self.resolution, self.aspect_ratio)

    @property
    def validation_size(self) -> tuple[int, int]:
        return bucket(self.validation_resolution, self.validation_aspect_ratio)

    def urls(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every input URL with its location in the request."""
        found: list[tuple[tuple[str | int, ...], str]] = [(("body", "training_data_url"), self.training_data_url)]
        for i, sample in enumerate(self.validation):
            found.append((("body", "validation", i, "video_url"), sample.video_url))
        return found


class OutputFile(BaseModel):
    """A produced file, in the shape hosted endpoints return (a client reads `url`)."""

    model_config = ConfigDict(frozen=True)

    url: str
    file_name: str
    content_type: str
    file_size: int


class ExtendSuffixResult(BaseModel):
    """What a successful job returns."""

    model_config = ConfigDict(frozen=True)

    lora_file: OutputFile
    config_file: OutputFile
    video: OutputFile | None = None
    debug_dataset: OutputFile | None = None
    billable_units: int
    best_lora_file: OutputFile | None = Field(
        default=None, description="The LoRA at the step with the lowest held-out loss (lora_file is the last step)."
    )
    best_lora_step: int | None = Field(default=None, description="The training step best_lora_file was saved at.")
    receipt: Receipt | None = Field(default=None, description="What each stage used (ltxcore.job.receipt).")


def billable_units(number_of_steps: int, succeeded: bool) -> int:
    """A successful run costs max(100, steps); anything that fails before training completes costs nothing."""
    return max(100, number_of_steps) if succeeded else 0


def cross_field_errors(request: ExtendSuffixRequest) -> list[ErrorDetail]:
    """Rules that tie fields together. They are checked here, not in a model validator, so that a request that
    passes Prefect's parameter schema still reaches the flow, which then fails it with the 422 body as its result."""
    errors = []
    for field in ("number_of_frames", "validation_number_of_frames"):
        frames = getattr(request, field)
        if request.conditioning_frames >= frames:
            errors.append(
                ErrorDetail(
                    loc=("body", "conditioning_frames"),
                    msg=f"conditioning_frames ({request.conditioning_frames}) must be smaller than {field} ({frames}) "
                    "so that a lead-in is left to generate",
                    type="suffix_too_long",
                )
            )
    return errors


def validate_request(request: ExtendSuffixRequest, *, allow_local: bool) -> ExtendSuffixRequest:
    """Every rule a constructed request must still pass: the cross-field rules and where inputs may come from."""
    errors = cross_field_errors(request)
    if errors:
        raise RequestRejected(errors)
    ensure_sources_allowed(request, allow_local)
    return request


def ensure_sources_allowed(request: ExtendSuffixRequest, allow_local: bool) -> None:
    """Refuse local paths and file:// URLs where the deployment does not allow local input."""
    if allow_local:
        return
    bad = [(loc, url) for loc, url in request.urls() if is_local_url(url)]
    if bad:
        raise RequestRejected(
            ErrorDetail(
                loc=loc,
                msg=f"local paths are not allowed here; use http(s):// or s3:// (got {_short(url)})",
                type="url_scheme",
            )
            for loc, url in bad
        )


def parse_request(data: str | bytes | dict[str, Any], *, allow_local: bool = True) -> ExtendSuffixRequest:
    """Validate untrusted input (JSON text or a dict) into a normalised request, or raise `RequestRejected`.

    JSON text is read by `untrusted_json.load_json` (bounded size and nesting; NaN, Infinity and huge integers are
    kept aside), and every such number or over-deep container is a 422 naming its field before any validation."""
    if isinstance(data, str | bytes):
        data = load_json(data)
    if not isinstance(data, dict):
        raise RequestRejected.one(("body",), f"request must be a JSON object (got {type(data).__name__})", "dict_type")
    bad_values = value_errors(data)
    if bad_values:
        raise RequestRejected(bad_values)
    try:
        request = ExtendSuffixRequest.model_validate(data)
    except ValidationError as exc:
        raise RequestRejected(_detail(e) for e in exc.errors()) from None
    return validate_request(request, allow_local=allow_local)


def _detail(err: Any) -> ErrorDetail:
    loc = ("body", *err["loc"])
    name = ".".join(str(p) for p in err["loc"]) or "request"
    ctx = err.get("ctx") or {}
    got = f" (got {_short(err['input'])})" if "input" in err and err["type"] not in ("missing",) else ""
    rules = {
        "missing": "is required",
        "extra_forbidden": "is not a known field",
        "greater_than_equal": f"must be >= {ctx.get('ge')}",
        "greater_than": f"must be > {ctx.get('gt')}",
        "less_than_equal": f"must be <= {ctx.get('le')}",
        "less_than": f"must be < {ctx.get('lt')}",
        "multiple_of": f"must be a multiple of {ctx.get('multiple_of')}",
        "too_long": f"must have at most {ctx.get('max_length')} entries",
        "literal_error": f"must be one of {ctx.get('expected')}",
        "finite_number": "must be a finite number",
    }
    rule = rules.get(err["type"])
    if err["type"] == "value_error":  # our own validators: their message is already a full sentence
        msg = str(ctx.get("error", err["msg"]))
        msg = msg if not err["loc"] else f"{name} {msg}"
    elif rule is not None:
        msg = f"{name} {rule}{got}"
    else:
        msg = f"{name}: {err['msg']}{got}"
    if err["type"] == "too_long":
        msg = f"{name} {rule} (got {len(err['input'])})"
    return ErrorDetail(loc=loc, msg=msg, type=err["type"])


def _short(value: Any, limit: int = 80) -> str:
    """The repr of a rejected value, cut to `limit` characters so that a huge input cannot flood the 422 body."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
