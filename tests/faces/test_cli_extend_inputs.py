"""`extend` and `prepare` refuse a person's bad files and flags with exit 2 and a 422 naming the flag, before any
model work and without writing the output: damaged or foreign LoRA files, metadata training never writes, clips
that are not video, flags that contradict each other, paths that cannot be used."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from cli.main import app
from ltxcore.media.synth import moving_square_clip

runner = CliRunner()
A = "diffusion_model.transformer_blocks.0.attn1.to_q.lora_A.weight"
B = "diffusion_model.transformer_blocks.0.attn1.to_q.lora_B.weight"


def lora_file(path: Path, tensors: dict[str, torch.Tensor] | None = None, meta: str | None = None) -> Path:
    """A header-valid LoRA file (rank 2) in the diffusion_model.* format, with `meta` as its training metadata."""
    tensors = tensors if tensors is not None else {A: torch.zeros(2, 16), B: torch.zeros(16, 2)}
    save_file(tensors, str(path), metadata=None if meta is None else {"extend_suffix": meta})
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clip") / "closing.mp4"
    return moving_square_clip(
        out, seconds=1.0, fps=24, size=(64, 64), colour="white", tone_hz=400, start=(0, 8), velocity=(20, 0)
    )


def extend(tmp_path: Path, lora: Path, video: Path, *extra: str) -> tuple[dict, Path]:
    out = tmp_path / "out" / "o.mp4"
    out.parent.mkdir(exist_ok=True)
    args = ["extend", "--lora", str(lora), "--video", str(video), "--prompt", "p", "--output", str(out)]
    result = runner.invoke(app, [*args, "--frames", "17", "--steps", "2", "--bucket", "64x64", *extra])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and not out.exists()
    body = json.loads(result.stdout)
    assert body["status"] == 422
    return body["detail"][0], out


def raw_safetensors(path: Path, header: bytes) -> Path:
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    return path


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda p: p.write_text("not a model") and p, "not a readable safetensors file"),
        (lambda p: p.write_bytes(b"") or p, "not a readable safetensors file"),
        (lambda p: raw_safetensors(p, b'{"a": 1'), "not a readable safetensors file"),
        (lambda p: lora_file(p, {"model.weight": torch.zeros(2, 2)}), "1 of its 1 tensors are not LoRA weights"),
        (
            lambda p: lora_file(
                p, {A: torch.zeros(2, 16), B: torch.zeros(16, 2), A.replace("0.", "1.", 1): torch.zeros(4, 16)}
            ),
            "mixed ranks [2, 4]",
        ),
        (lambda p: lora_file(p, meta="{not json"), "metadata is not a JSON object"),
        (lambda p: lora_file(p, meta="[1, 2]"), "metadata is not a JSON object"),
        (lambda p: lora_file(p, meta='{"conditioning_frames": 12}'), "conditioning_frames = 12, not a multiple of 8"),
        (lambda p: lora_file(p, meta='{"conditioning_frames": "abc"}'), "conditioning_frames = 'abc'"),
        (lambda p: lora_file(p, meta='{"with_audio": "false"}'), "with_audio = 'false', not true or false"),
    ],
)
def test_a_file_that_is_not_a_lora_in_this_format_is_a_422_naming_the_lora_flag(
    make, says: str, clip: Path, tmp_path: Path
) -> None:
    lora = make(tmp_path / "l.safetensors")
    detail, _ = extend(tmp_path, lora, clip)
    assert detail["loc"] == ["--lora"] and says in detail["msg"], detail
    assert detail["msg"].startswith("l.safetensors: ")


@pytest.mark.parametrize(
    ("content", "kind"),
    [(b"", "empty"), (b"hello, this is text", "text"), (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "png")],
)
def test_a_closing_clip_that_is_not_a_video_is_a_422_at_video(
    content: bytes, kind: str, clip: Path, tmp_path: Path
) -> None:
    video = tmp_path / f"{kind}.mp4"
    video.write_bytes(content)
    detail, _ = extend(tmp_path, lora_file(tmp_path / "l.safetensors"), video)
    assert detail["loc"] == ["video"] and detail["msg"].startswith(f"{kind}.mp4: "), detail


def test_contradicting_or_impossible_flags_name_the_flag(clip: Path, tmp_path: Path) -> None:
    lora = lora_file(tmp_path / "l.safetensors")
    detail, _ = extend(tmp_path, lora, clip, "--conditioning-frames", "24")  # 24 clean frames of a 17-frame clip
    assert detail["loc"] == ["--conditioning-frames"] and "smaller than --frames (17" in detail["msg"]
    detail, _ = extend(tmp_path, lora, clip, "--seed", str(2**70))
    assert detail["loc"] == ["--seed"]
    detail, _ = extend(tmp_path, lora, clip, "--fps", "nan")
    assert detail["loc"] == ["--fps"] and "finite number" in detail["msg"]
    detail, _ = extend(tmp_path, lora, clip, "--bucket", "32x32")
    assert detail["loc"] == ["--bucket"] and "at least 64" in detail["msg"]
    detail, _ = extend(tmp_path, lora, clip, "--model", str(tmp_path / "no-such-model"))
    assert detail["loc"] == ["--model"] and "no model_index.json" in detail["msg"]


def test_an_output_path_that_cannot_be_written_is_refused_before_any_sampling(clip: Path, tmp_path: Path) -> None:
    lora = lora_file(tmp_path / "l.safetensors")
    args = ["extend", "--lora", str(lora), "--video", str(clip), "--prompt", "p", "--bucket", "64x64"]
    for output, says in ((tmp_path, "is a directory"), (tmp_path / "missing" / "o.mp4", "does not exist")):
        result = runner.invoke(app, [*args, "--output", str(output)])
        assert result.exit_code == 2 and "Traceback" not in result.output
        detail = json.loads(result.stdout)["detail"][0]
        assert detail["loc"] == ["--output"] and says in detail["msg"]


def test_prepare_refuses_a_work_dir_that_is_a_file_and_a_bad_price(tmp_path: Path) -> None:
    request = tmp_path / "r.json"
    request.write_text(json.dumps({"training_data_url": "https://example.com/clips.zip"}))
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    result = runner.invoke(app, ["prepare", str(request), "--work-dir", str(not_a_dir / "sub")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert json.loads(result.stdout)["detail"][0]["loc"] == ["--work-dir"]
    result = runner.invoke(app, ["prepare", str(request), "--work-dir", str(tmp_path / "w"), "--price-per-hour", "nan"])
    assert result.exit_code == 2 and json.loads(result.stdout)["detail"][0]["loc"] == ["--price-per-hour"]
