"""parse_request on hostile JSON: NaN/Infinity, overflowing and huge numbers, deep nesting, bad URLs.

Every case is a RequestRejected whose loc names the field (a 422, exit 2 in the CLI), never a Python exception and
never a request normalised with `null` where a number was.
"""

from __future__ import annotations

import json

import pytest

from ltxcore.errors import RequestRejected
from ltxcore.job.request import parse_request
from ltxcore.job.untrusted_json import MAX_DEPTH, MAX_REQUEST_BYTES

URL = '"training_data_url": "https://example.com/data.zip"'
NUMBER_FIELDS = [
    "learning_rate",
    "stg_scale",
    "split_input_duration_threshold",
    "number_of_steps",
    "rank",
    "conditioning_frames",
    "number_of_frames",
    "frame_rate",
    "validation_frame_rate",
]


def rejected(text: str | dict) -> RequestRejected:
    with pytest.raises(RequestRejected) as err:
        parse_request(text)
    return err.value


@pytest.mark.parametrize("field", NUMBER_FIELDS)
@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
def test_non_finite_number_in_any_number_field_is_a_422_naming_it(field: str, token: str) -> None:
    err = rejected(f'{{{URL}, "{field}": {token}}}')
    (detail,) = err.details
    assert detail.loc == ("body", field) and detail.type == "finite_number"
    assert field in detail.msg and token in detail.msg


@pytest.mark.parametrize("field", ["number_of_steps", "learning_rate", "rank"])
def test_integer_with_thousands_of_digits_is_a_422_naming_the_field(field: str) -> None:
    err = rejected(f'{{{URL}, "{field}": {"9" * 5000}}}')
    (detail,) = err.details
    assert detail.loc == ("body", field) and detail.type == "number_too_large" and "5000 digits" in detail.msg
    assert len(err.to_json()) < 1000  # the 422 body quotes no 5000-digit number


def test_a_number_nested_in_validation_is_located_exactly() -> None:
    err = rejected(f'{{{URL}, "validation": [{{"video_url": "https://e.com/v.mp4", "prompt": NaN}}]}}')
    assert [d.loc for d in err.details] == [("body", "validation", 0, "prompt")]


@pytest.mark.parametrize("field", ["validation", "trigger_phrase", "not_a_field"])
def test_deep_nesting_is_a_422_naming_the_top_level_field(field: str) -> None:
    depth = 100_000  # json.loads alone raises RecursionError at about 1000
    err = rejected(f'{{{URL}, "{field}": {"[" * depth}{"]" * depth}}}')
    (detail,) = err.details
    assert detail.loc == ("body", field) and detail.type == "nesting_too_deep" and str(MAX_DEPTH) in detail.msg


def test_deep_nesting_at_the_top_level_is_a_422_on_the_body() -> None:
    (detail,) = rejected("[" * 50_000 + "]" * 50_000).details
    assert detail.loc == ("body",) and detail.type == "nesting_too_deep"


def test_nesting_just_under_the_limit_is_judged_by_the_contract_not_the_parser() -> None:
    nested = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    (detail,) = rejected(f'{{{URL}, "validation": {nested}}}').details
    assert detail.type != "nesting_too_deep" and detail.loc[:2] == ("body", "validation")


def test_python_dicts_with_non_finite_or_huge_numbers_are_refused_too() -> None:
    # The served flow hands parse_request a dict: its numbers never went through the JSON reader.
    data = {
        "training_data_url": "https://example.com/d.zip",
        "learning_rate": float("inf"),
        "stg_scale": float("nan"),
        "number_of_steps": 10**5000,
    }
    err = rejected(data)
    assert {(d.loc, d.type) for d in err.details} == {
        (("body", "learning_rate"), "finite_number"),
        (("body", "stg_scale"), "finite_number"),
        (("body", "number_of_steps"), "number_too_large"),
    }


def test_a_deeply_nested_python_dict_is_refused_without_recursion() -> None:
    deep: list = []
    for _ in range(200_000):
        deep = [deep]
    (detail,) = rejected({"training_data_url": "https://example.com/d.zip", "validation": deep}).details
    assert detail.loc == ("body", "validation") and detail.type == "nesting_too_deep"


def test_oversized_request_is_a_422() -> None:
    (detail,) = rejected('{"trigger_phrase": "' + "x" * MAX_REQUEST_BYTES + '"}').details
    assert detail.loc == ("body",) and detail.type == "request_too_large"


def test_finite_numbers_still_normalise_to_numbers() -> None:
    request = parse_request(f'{{{URL}, "learning_rate": 1e-4, "number_of_steps": 300, "stg_scale": 0}}')
    out = json.loads(request.model_dump_json())
    assert (out["learning_rate"], out["number_of_steps"], out["stg_scale"]) == (1e-4, 300, 0.0)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://example.com:99999/d.zip", "invalid port"),
        ("http://example.com:http/d.zip", "invalid port"),
        ("http://[::1/d.zip", "Invalid IPv6 URL"),
        ("http://exa..mple.com/d.zip", "malformed host"),
        ("s3://user:pass@bucket/d.zip", "credentials"),
        ("s3://UPPER/d.zip", "invalid bucket name"),
        ("s3://bucket/", "names no object"),
    ],
)
def test_malformed_urls_are_a_422_naming_the_field(url: str, why: str) -> None:
    err = rejected({"training_data_url": "https://example.com/d.zip", "validation": [{"video_url": url}]})
    (detail,) = err.details
    assert detail.loc == ("body", "validation", 0, "video_url") and why in detail.msg


def test_a_lone_surrogate_escape_in_a_string_is_a_422_naming_the_field() -> None:
    err = rejected(f'{{{URL}, "trigger_phrase": "a\\ud800b"}}')
    (detail,) = err.details
    assert detail.loc == ("body", "trigger_phrase") and detail.type == "string_unicode"
    assert detail.msg == "trigger_phrase is not valid Unicode text (a lone surrogate \\ud800)"
    assert json.loads(err.to_json())["detail"][0]["loc"] == ["body", "trigger_phrase"]  # the 422 body serialises


def test_a_lone_surrogate_nested_in_validation_or_in_a_url_is_located_exactly() -> None:
    err = rejected(
        '{"training_data_url": "https://e.com/\\udfff.zip", '
        '"validation": [{"video_url": "https://e.com/v.mp4", "prompt": "x\\udc00"}]}'
    )
    assert [(d.loc, d.type) for d in err.details] == [
        (("body", "training_data_url"), "string_unicode"),
        (("body", "validation", 0, "prompt"), "string_unicode"),
    ]
    assert "\\udfff" in err.details[0].msg and "\\udc00" in err.details[1].msg
    err.to_json()


def test_a_lone_surrogate_in_a_key_is_a_422_that_still_serialises() -> None:
    err = rejected(f'{{{URL}, "k\\ud800": 1}}')
    (detail,) = err.details
    assert detail.loc == ("body", "k\\ud800") and detail.type == "string_unicode"
    json.loads(err.to_json())


def test_a_proper_surrogate_pair_is_ordinary_text() -> None:
    request = parse_request(f'{{{URL}, "trigger_phrase": "\\ud83d\\ude00 cat"}}')
    assert request.trigger_phrase.startswith("\U0001f600")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://e.com\r\n.evil/x.zip", "contains the control character '\\r' at position 12; a URL has none"),
        ("http://e.com/a\x00.zip", "contains the control character '\\x00' at position 14"),
        ("http://e.com/a\tb.zip", "contains the control character '\\t' at position 14"),
        ("http://e.com/a\x7f.zip", "contains the control character '\\x7f' at position 14"),
        ("http://e.com/a b.zip", "contains whitespace (' ') at position 14; spell it %20 in a URL"),
        ("https://e.com/a\u3000b.zip", "contains whitespace ('\\u3000') at position 15"),
        ("/data/a\nb.zip", "contains the control character '\\n' at position 7"),
        ("file://otherhost/etc/data.zip", "names the host 'otherhost'; a file:// URL reads this machine only"),
    ],
)
def test_urls_with_control_characters_whitespace_or_a_file_host_are_a_422_at_the_field(url: str, why: str) -> None:
    err = rejected({"training_data_url": url})
    (detail,) = err.details
    assert detail.loc == ("body", "training_data_url") and why in detail.msg


def test_an_overlong_url_is_a_422_at_its_field_before_anything_parses_it() -> None:
    url = "https://e.com/" + "a" * (64 << 10) + ".zip"
    err = rejected({"training_data_url": "https://e.com/d.zip", "validation": [{"video_url": url}]})
    (detail,) = err.details
    assert detail.loc == ("body", "validation", 0, "video_url")
    assert f"is {len(url)} characters long; a URL has at most 2048" in detail.msg


def test_a_url_at_the_length_limit_and_a_local_path_with_a_space_are_accepted() -> None:
    url = "https://e.com/" + "a" * (2048 - len("https://e.com/") - 4) + ".zip"
    assert parse_request({"training_data_url": url}).training_data_url == url
    assert parse_request({"training_data_url": "/data/my clips.zip"}).training_data_url == "/data/my clips.zip"
    assert parse_request({"training_data_url": "file://localhost/data/x.zip"})
