"""--bucket WxH (parse_size behind cli/common.bucket_size): each side a positive multiple of 32 and at most 4096,
refused with a 422 at `--bucket` that states the rule; well-formed sizes pass unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.common import bucket_size
from cli.main import app
from ltxcore.errors import RequestRejected
from ltxcore.job.settings import JobSettings, parse_size

RULE = "width and height must be positive multiples of 32 and at most 4096"


@pytest.mark.parametrize("text", ["65x64", "64x33", "0x64", "64x0", "4128x64", "64x8192", "100000x64"])
def test_a_bucket_side_not_a_positive_multiple_of_32_up_to_4096_is_a_422_at_the_option_stating_the_rule(
    text: str,
) -> None:
    with pytest.raises(RequestRejected) as err:
        bucket_size(text)
    (detail,) = err.value.details
    assert detail.loc == ("--bucket",) and detail.type == "value_error"
    assert detail.msg == f"{RULE}, e.g. 64x64 (got {text!r})"


@pytest.mark.parametrize("text", ["64", "x64", "64x", "-64x64", "64x64x64", "6\u0664x64", "axb", ""])
def test_a_bucket_that_is_not_width_x_height_is_a_422_asking_for_that_form(text: str) -> None:
    if not text:
        assert bucket_size(text) is None  # no option given
        return
    with pytest.raises(RequestRejected) as err:
        bucket_size(text)
    (detail,) = err.value.details
    assert detail.loc == ("--bucket",) and detail.msg.startswith("expected WIDTHxHEIGHT in pixels")


@pytest.mark.parametrize(("text", "size"), [("64x64", (64, 64)), (" 96X32 ", (96, 32)), ("4096x4096", (4096, 4096))])
def test_well_formed_buckets_pass_unchanged(text: str, size: tuple[int, int]) -> None:
    assert parse_size(text) == size == bucket_size(text)


def test_the_environment_override_follows_the_same_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXTEND_SUFFIX_BUCKET_OVERRIDE", "64x50")
    with pytest.raises(ValueError, match="multiples of 32"):
        JobSettings()


def test_prepare_with_a_bad_bucket_exits_2_with_the_422_body(tmp_path: Path) -> None:
    req = tmp_path / "req.json"
    req.write_text(json.dumps({"training_data_url": str(tmp_path / "never-read.zip")}))
    result = CliRunner().invoke(app, ["prepare", str(req), "--work-dir", str(tmp_path / "w"), "--bucket", "60x60"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    (detail,) = json.loads(result.stdout)["detail"]
    assert detail["loc"] == ["--bucket"] and detail["msg"] == f"{RULE}, e.g. 64x64 (got '60x60')"
    assert not (tmp_path / "w").exists() or not any((tmp_path / "w").rglob("*.zip"))
