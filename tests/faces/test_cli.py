"""The command line surface: `check` prints the normalised request or the 422 body, verbs are all listed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()
EXE = Path(sys.executable).with_name("extend-suffix")


def test_check_prints_the_normalised_request_and_exits_0(tmp_path: Path) -> None:
    req = tmp_path / "req.json"
    req.write_text(json.dumps({"training_data_url": "https://h/a.zip", "number_of_frames": 90}))
    result = runner.invoke(app, ["check", str(req)])
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert out["number_of_frames"] == 89 and out["rank"] == 32 and len(out) == 24


def test_check_reads_stdin_and_prints_the_422_body_with_exit_2() -> None:
    result = runner.invoke(app, ["check", "-"], input='{"training_data_url": "https://h/a.zip", "rank": 7}')
    assert result.exit_code == 2
    body = json.loads(result.stdout)
    assert body["status"] == 422 and body["detail"][0]["loc"] == ["body", "rank"]


def test_check_turns_invalid_json_into_a_422_not_a_traceback() -> None:
    result = runner.invoke(app, ["check", "-"], input="{not json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["detail"][0]["type"] == "json_invalid"
    assert "Traceback" not in result.output


def test_check_names_a_missing_request_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", str(tmp_path / "nope.json")])
    assert result.exit_code == 2
    assert "nope.json" in json.loads(result.stdout)["detail"][0]["msg"]


def test_installed_entry_point_lists_every_verb() -> None:
    out = subprocess.run([str(EXE), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    for verb in ("check", "prepare", "model-info", "run", "demo", "extend", "serve", "submit", "api"):
        assert verb in out.stdout


def ffprobe_frames(path: Path) -> tuple[int, set[str]]:
    from ltxcore.media.ffmpeg_bin import ffprobe

    out = subprocess.run(
        [
            ffprobe(),
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_type,nb_read_frames",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    streams = json.loads(out.stdout)["streams"]
    video = [int(s["nb_read_frames"]) for s in streams if s["codec_type"] == "video"]
    return video[0], {s["codec_type"] for s in streams}


def test_prepare_encode_then_extend_with_a_trained_lora(tmp_path: Path) -> None:
    from ltxcore.manifests import LatentCache
    from ltxcore.media.synth import make_demo_archive, moving_square_clip
    from ltxcore.model.spec import ModelSpec
    from ltxcore.train.config import TrainConfig
    from ltxcore.train.loop import train_lora

    archive, _ = make_demo_archive(tmp_path / "data", clips=4, seconds=1.5, size=(96, 96), audio=False)
    req = tmp_path / "req.json"
    req.write_text(json.dumps({"training_data_url": str(archive), "number_of_frames": 25, "trigger_phrase": "sks"}))
    result = runner.invoke(
        app, ["prepare", str(req), "--work-dir", str(tmp_path / "w"), "--bucket", "64x64", "--encode"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert len(report["kept"]) == 4 and report["skipped"] == []
    assert all(c["caption"].startswith("sks ") and c["frames"] == 25 for c in report["kept"])
    cache = LatentCache.model_validate_json(Path(report["latent_cache"]).read_text())
    assert len(cache.clips) == 4

    run = train_lora(
        cache,
        TrainConfig(
            steps=4,
            rank=8,
            conditioning_frames=8,
            frame_rate=24,
            checkpoint_every=4,
            validate_every=4,
            trigger_phrase="sks",
        ),
        tmp_path / "train",
        spec=ModelSpec.parse("tiny"),
        device="cpu",
    )
    unseen = moving_square_clip(
        tmp_path / "unseen.mp4",
        seconds=1.0,
        fps=24,
        size=(80, 120),
        colour="white",
        tone_hz=500,
        start=(5, 5),
        velocity=(30, 10),
        audio=False,
    )
    out = tmp_path / "extended.mp4"
    result = runner.invoke(
        app,
        [
            "extend",
            "--lora",
            str(run.lora_path),
            "--video",
            str(unseen),
            "--prompt",
            "sks a white square",
            "--output",
            str(out),
            "--frames",
            "25",
            "--bucket",
            "64x64",
            "--steps",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    frames, streams = ffprobe_frames(out)
    assert frames == 25 and streams == {"video"}
    assert json.loads(result.stdout.strip().splitlines()[-1])["lead_in_frames"] == 17


def test_prepare_prints_the_422_body_for_an_archive_of_short_clips(tmp_path: Path) -> None:
    from ltxcore.media.synth import make_demo_archive

    archive, _ = make_demo_archive(tmp_path / "data", clips=2, seconds=1.0, size=(64, 64), audio=False)
    req = tmp_path / "req.json"
    req.write_text(json.dumps({"training_data_url": str(archive)}))  # 89 frames needed, 24 given
    result = runner.invoke(app, ["prepare", str(req), "--work-dir", str(tmp_path / "w")])
    assert result.exit_code == 2
    body = json.loads(result.stdout)
    assert body["detail"][0]["msg"] == "All training videos are too short to be trainable"


def test_extend_options_come_from_its_settings_model_and_refuse_bad_values_by_flag(tmp_path: Path) -> None:
    from ltxcore.sample.command import ExtendOptions

    help_text = runner.invoke(app, ["extend", "--help"], env={"COLUMNS": "240"}).stdout
    for name in ExtendOptions.model_fields:
        assert f"--{name.replace('_', '-')}" in help_text, name
    assert "--with-audio" in help_text and "--without-audio" in help_text
    lora, video = tmp_path / "l.safetensors", tmp_path / "v.mp4"
    lora.write_bytes(b"x")
    video.write_bytes(b"x")
    args = ["extend", "--lora", str(lora), "--video", str(video), "--prompt", "p", "--output", str(tmp_path / "o.mp4")]
    result = runner.invoke(app, [*args, "--frames", "5", "--aspect", "4:3", "--conditioning-frames", "12"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    body = json.loads(result.stdout)
    assert [d["loc"] for d in body["detail"]] == [["--frames"], ["--aspect"], ["--conditioning-frames"]]
    assert body["detail"][0]["msg"] == "--frames: input should be greater than or equal to 9"
    assert not (tmp_path / "o.mp4").exists()


def test_check_refuses_an_oversized_request_file_without_reading_it_whole(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (3 << 20))  # 3 MiB of whitespace: valid-looking, far over the 1 MiB limit
    result = runner.invoke(app, ["check", str(big)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    (detail,) = json.loads(result.stdout)["detail"]
    assert (
        detail["type"] == "request_too_large" and detail["msg"] == "request is larger than the limit of 1048576 bytes"
    )
