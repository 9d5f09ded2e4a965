"""The request contract: every field's default, bound, enum and cross-field rule, and the 422 shape."""

from __future__ import annotations

from typing import Any

import pytest

from ltxcore.errors import RequestRejected
from ltxcore.job.request import (
    DEFAULT_NEGATIVE_PROMPT,
    ExtendSuffixRequest,
    ExtendSuffixResult,
    billable_units,
    bucket,
    parse_request,
    snap_frames,
)

URL = "https://example.com/clips.zip"


def ok(**fields: Any) -> ExtendSuffixRequest:
    return parse_request({"training_data_url": URL, **fields})


def rejected(**fields: Any) -> dict[str, Any]:
    with pytest.raises(RequestRejected) as info:
        parse_request({"training_data_url": URL, **fields} if "training_data_url" not in fields else fields)
    body = info.value.body()
    assert body["status"] == 422
    return body


def test_defaults_equal_the_spec() -> None:
    r = ok()
    assert (r.trigger_phrase, r.rank, r.number_of_steps, r.learning_rate) == ("", 32, 2000, 0.0002)
    assert (r.conditioning_frames, r.number_of_frames, r.frame_rate) == (8, 89, 24)
    assert (r.resolution, r.aspect_ratio, r.auto_scale_input) == ("medium", "1:1", False)
    assert (r.split_input_into_scenes, r.split_input_duration_threshold) == (True, 30.0)
    assert (r.with_audio, r.audio_normalize, r.audio_preserve_pitch) == (False, True, True)
    assert r.validation == [] and r.validation_negative_prompt == DEFAULT_NEGATIVE_PROMPT
    assert (r.validation_number_of_frames, r.validation_frame_rate) == (89, 24)
    assert (r.validation_resolution, r.validation_aspect_ratio, r.stg_scale, r.debug_dataset) == (
        "high",
        "1:1",
        1.0,
        False,
    )
    assert len(DEFAULT_NEGATIVE_PROMPT) > 50


def test_the_spec_example_request_is_accepted() -> None:
    r = ok(
        trigger_phrase="",
        rank=32,
        number_of_steps=2000,
        learning_rate=0.0002,
        conditioning_frames=8,
        number_of_frames=89,
        frame_rate=24,
        resolution="medium",
        aspect_ratio="1:1",
        with_audio=False,
        validation=[{"prompt": "a person approaching a door", "video_url": "https://example.com/closing.mp4"}],
    )
    assert r.validation[0].prompt == "a person approaching a door"


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        ("number_of_steps", [100, 20000], [99, 20001]),
        ("conditioning_frames", [8, 80], [0, 7, 128]),
        ("number_of_frames", [9, 121], [8, 122]),
        ("validation_number_of_frames", [9, 121], [8, 122]),
        ("frame_rate", [8, 60], [7, 61]),
        ("validation_frame_rate", [8, 60], [7, 61]),
        ("split_input_duration_threshold", [1.0, 60.0], [0.99, 60.01]),
        ("stg_scale", [0.0, 3.0], [-0.01, 3.01]),
        ("learning_rate", [1e-9, 1.0], [0.0, -1e-4]),
    ],
)
def test_numeric_bounds_accept_each_bound_and_reject_one_past(field: str, good: list, bad: list) -> None:
    extra = {"number_of_frames": 121, "validation_number_of_frames": 121} if field == "conditioning_frames" else {}
    for value in good:
        assert getattr(ok(**{**extra, field: value}), field) == (
            snap_frames(value) if "frames" in field and field != "conditioning_frames" else value
        )
    for value in bad:
        body = rejected(**{**extra, field: value})
        assert body["detail"][0]["loc"] == ["body", field]
        assert field in body["detail"][0]["msg"] and repr(value) in body["detail"][0]["msg"]


def test_conditioning_frames_must_be_a_multiple_of_8_with_a_plain_message() -> None:
    body = rejected(conditioning_frames=12)
    assert body["detail"] == [
        {
            "loc": ["body", "conditioning_frames"],
            "type": "multiple_of",
            "msg": "conditioning_frames must be a multiple of 8 (got 12)",
        }
    ]
    assert ok(conditioning_frames=120, number_of_frames=121, validation_number_of_frames=121).conditioning_frames == 120


@pytest.mark.parametrize(("given", "snapped"), [(90, 89), (89, 89), (96, 89), (97, 97), (16, 9), (9, 9), (121, 121)])
def test_frame_counts_snap_down_to_8k_plus_1(given: int, snapped: int) -> None:
    r = ok(number_of_frames=given, validation_number_of_frames=given)
    assert (r.number_of_frames, r.validation_number_of_frames) == (snapped, snapped)
    assert snap_frames(given) == snapped and (snapped - 1) % 8 == 0


def test_normalised_request_shows_the_snapped_value() -> None:
    assert '"number_of_frames":89' in ok(number_of_frames=90).model_dump_json()


@pytest.mark.parametrize("field", ["number_of_frames", "validation_number_of_frames"])
def test_suffix_must_leave_a_lead_in(field: str) -> None:
    other = {"number_of_frames": 121, "validation_number_of_frames": 121}
    # 89 frames = 12 latent frames; an 88-frame suffix is 11 of them, leaving one to generate.
    assert ok(**{**other, "conditioning_frames": 88, field: 89}).conditioning_frames == 88
    body = rejected(**{**other, "conditioning_frames": 96, field: 96})  # 96 snaps to 89: the suffix covers it all
    assert len(body["detail"]) == 1 and body["detail"][0]["loc"] == ["body", "conditioning_frames"]
    assert f"smaller than {field} (89)" in body["detail"][0]["msg"]


def test_rank_takes_only_the_five_values() -> None:
    for rank in (8, 16, 32, 64, 128):
        assert ok(rank=rank).rank == rank
    for rank in (0, 4, 24, 256):
        assert rejected(rank=rank)["detail"][0]["loc"] == ["body", "rank"]


@pytest.mark.parametrize("field", ["resolution", "validation_resolution"])
def test_resolution_enum(field: str) -> None:
    assert [getattr(ok(**{field: v}), field) for v in ("low", "medium", "high")] == ["low", "medium", "high"]
    assert rejected(**{field: "ultra"})["detail"][0]["type"] == "literal_error"


@pytest.mark.parametrize("field", ["aspect_ratio", "validation_aspect_ratio"])
def test_aspect_ratio_enum(field: str) -> None:
    assert [getattr(ok(**{field: v}), field) for v in ("16:9", "1:1", "9:16")] == ["16:9", "1:1", "9:16"]
    assert rejected(**{field: "4:3"})["detail"][0]["loc"] == ["body", field]


def test_resolution_table_is_one_function() -> None:
    assert bucket("low", "16:9") == (512, 288) and bucket("low", "1:1") == (512, 512)
    assert bucket("low", "9:16") == (288, 512) and bucket("medium", "16:9") == (768, 448)
    assert bucket("medium", "1:1") == (768, 768) and bucket("medium", "9:16") == (448, 768)
    assert bucket("high", "16:9") == (960, 544) and bucket("high", "1:1") == (960, 960)
    assert bucket("high", "9:16") == (544, 960)
    assert ok(resolution="high", aspect_ratio="9:16").size == (544, 960)
    assert ok().validation_size == (960, 960)


def test_validation_holds_at_most_two_entries_each_with_a_video_url() -> None:
    v = {"prompt": "p", "video_url": "https://example.com/v.mp4"}
    assert len(ok(validation=[v, v]).validation) == 2
    body = rejected(validation=[v, v, v])
    assert body["detail"][0]["loc"] == ["body", "validation"] and "(got 3)" in body["detail"][0]["msg"]
    body = rejected(validation=[{"prompt": "no url"}])
    assert body["detail"][0]["loc"] == ["body", "validation", 0, "video_url"]
    assert body["detail"][0]["type"] == "missing"
    assert ok(validation=[{"video_url": "s3://bucket/v.mp4"}]).validation[0].prompt == ""


def test_unknown_fields_are_rejected_by_name() -> None:
    body = rejected(numer_of_steps=500)
    assert body["detail"] == [
        {
            "loc": ["body", "numer_of_steps"],
            "type": "extra_forbidden",
            "msg": "numer_of_steps is not a known field (got 500)",
        }
    ]
    assert rejected(validation=[{"video_url": "https://a/b.mp4", "seed": 1}])["detail"][0]["loc"] == [
        "body",
        "validation",
        0,
        "seed",
    ]


def test_training_data_url_is_required_and_checked() -> None:
    with pytest.raises(RequestRejected) as info:
        parse_request({})
    assert info.value.body()["detail"][0] == {
        "loc": ["body", "training_data_url"],
        "msg": "training_data_url is required",
        "type": "missing",
    }
    for bad in ("", "   ", "ftp://host/a.zip", "gopher://x/y", "https:///nohost.zip", "s3:///key.zip"):
        body = rejected(training_data_url=bad)
        assert body["detail"][0]["loc"] == ["body", "training_data_url"], bad
    for good in (
        "https://h/a.zip",
        "http://h:8080/a.zip",
        "s3://bucket/a.zip",
        "file:///tmp/a.zip",
        "/tmp/a.zip",
        "rel/a.zip",
    ):
        assert ok(training_data_url=good).training_data_url == good


def test_local_inputs_only_where_the_deployment_allows_them() -> None:
    req = {"training_data_url": "/data/a.zip", "validation": [{"video_url": "file:///etc/passwd"}]}
    assert parse_request(req, allow_local=True).training_data_url == "/data/a.zip"
    with pytest.raises(RequestRejected) as info:
        parse_request(req, allow_local=False)
    locs = [d["loc"] for d in info.value.body()["detail"]]
    assert locs == [["body", "training_data_url"], ["body", "validation", 0, "video_url"]]
    assert parse_request({"training_data_url": URL}, allow_local=False).training_data_url == URL


def test_invalid_json_and_non_objects_are_422_not_tracebacks() -> None:
    for raw in ("{", "", "null", "[1,2]", b"\xff\xfe"):
        with pytest.raises(RequestRejected) as info:
            parse_request(raw)
        assert info.value.body()["detail"][0]["loc"] == ["body"]


def test_many_mistakes_are_reported_together() -> None:
    body = rejected(rank=7, conditioning_frames=12, resolution="4k", foo=1)
    assert sorted(d["loc"][-1] for d in body["detail"]) == ["conditioning_frames", "foo", "rank", "resolution"]


def test_billing_rule() -> None:
    assert billable_units(2000, True) == 2000
    assert billable_units(100, True) == 100
    assert billable_units(50, True) == 100  # the floor, should a caller ever bill fewer steps
    assert billable_units(2000, False) == 0


def test_result_shape() -> None:
    f = {
        "url": "file:///o/l.safetensors",
        "file_name": "l.safetensors",
        "content_type": "application/octet-stream",
        "file_size": 10,
    }
    res = ExtendSuffixResult.model_validate({"lora_file": f, "config_file": f, "billable_units": 2000})
    assert res.video is None and res.debug_dataset is None and res.lora_file.url.endswith(".safetensors")


def test_schema_carries_the_hard_limits_for_prefect() -> None:
    props = ExtendSuffixRequest.model_json_schema()["properties"]
    assert (props["number_of_steps"]["minimum"], props["number_of_steps"]["maximum"]) == (100, 20000)
    assert props["conditioning_frames"]["multipleOf"] == 8
    assert props["rank"]["enum"] == [8, 16, 32, 64, 128]
    assert props["validation"]["maxItems"] == 2
    assert props["stg_scale"]["maximum"] == 3.0 and props["learning_rate"]["exclusiveMinimum"] == 0


def test_a_key_given_twice_is_a_422_at_it_wherever_it_sits() -> None:
    # json would keep the last value silently: a reviewer who read the first URL would not see the second
    text = '{"training_data_url": "file:///etc/passwd", "training_data_url": "https://example.com/x.zip"}'
    with pytest.raises(RequestRejected) as info:
        parse_request(text)
    (detail,) = info.value.details
    assert (detail.loc, detail.type) == (("body", "training_data_url"), "duplicate_key")
    assert detail.msg == "training_data_url appears 2 times; give each field once"
    nested = (
        '{"training_data_url": "%s", "validation": [{"video_url": "%s", "prompt": "a", "prompt": "b", "prompt": "c"}]}'
    )
    with pytest.raises(RequestRejected) as info:
        parse_request(nested % (URL, "https://example.com/a.mp4"))
    assert [(d.loc, d.msg) for d in info.value.details] == [
        (("body", "validation", 0, "prompt"), "validation.0.prompt appears 3 times; give each field once")
    ]
    assert parse_request(f'{{"training_data_url": "{URL}", "rank": 16}}').rank == 16  # distinct keys: fine


@pytest.mark.parametrize(
    ("field", "value"),
    [("trigger_phrase", "sks\x00"), ("trigger_phrase", "sks\x1b[31m"), ("validation_negative_prompt", "bad\x07")],
)
def test_text_fields_refuse_control_characters(field: str, value: str) -> None:
    body = rejected(**{field: value})
    assert body["detail"][0]["loc"] == ["body", field] and "holds control characters (U+00" in body["detail"][0]["msg"]


def test_prompts_keep_tabs_and_line_breaks_and_the_trigger_phrase_is_capped() -> None:
    sample = {"video_url": "https://example.com/a.mp4", "prompt": "a door\n\topens"}
    assert ok(validation=[sample]).validation[0].prompt == "a door\n\topens"
    body = rejected(validation=[{**sample, "prompt": "a\x00door"}])
    assert body["detail"][0]["loc"] == ["body", "validation", 0, "prompt"]
    assert ok(trigger_phrase="x" * 1000).trigger_phrase == "x" * 1000
    assert rejected(trigger_phrase="x" * 1001)["detail"][0]["type"] == "string_too_long"
