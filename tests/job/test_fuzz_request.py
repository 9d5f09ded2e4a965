"""Property-based fuzzing of request JSON through `check` semantics (`parse_request` in-process, plus the real CLI).

Properties, for any input: the outcome is a normalised request or a RequestRejected (exit 0 or 2, never 1 or a
traceback); every 422 detail names a field (or, for the body as a whole, says why the body is refused); the 422 body
stays small whatever the input size; an accepted request prints only finite numbers and parses again to itself.
Examples are derandomized (the same ones every run) and few enough to take seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltxcore.errors import RequestRejected
from ltxcore.job.request import ExtendSuffixRequest, parse_request

EXE = Path(sys.executable).with_name("extend-suffix")
FIELDS = sorted(ExtendSuffixRequest.model_fields)
BODY_LEVEL = {"json_invalid", "dict_type", "request_too_large", "nesting_too_deep"}  # about the body as a whole
FUZZ = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=timedelta(seconds=10),
    suppress_health_check=[HealthCheck.too_slow],
)

numbers = st.one_of(
    st.integers(), st.integers(min_value=-(10**60), max_value=10**60), st.floats(allow_nan=True, allow_infinity=True)
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    st.text(max_size=40),
    st.sampled_from(
        [
            "https://example.com/d.zip",
            "s3://bucket/d.zip",
            "s3://B/x",
            "http://h:99999/",
            "http://[::1",
            "file:///etc/passwd",
            "../x.zip",
            "",
            "low",
            "16:9",
            "1:1",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
requests = st.dictionaries(st.sampled_from([*FIELDS, "extra", "validation"]), values, max_size=8).map(
    lambda d: {"training_data_url": "https://example.com/d.zip", **d}
)


def _deep(field: str, depth: int, opener: str) -> str:
    """`{"<field>": [[[...]]]}` (or nested objects) `depth` levels deep."""
    open_, close = ("[", "]") if opener == "[" else ('{"a":', "}")
    return f'{{"{field}": {open_ * depth}{close * depth}}}'


def _huge(field: str, digits: int, prefix: str) -> str:
    """A request whose `field` is a number token of `digits` digits (an integer, a fraction or an exponent)."""
    return f'{{"training_data_url": "https://e.com/d.zip", "{field}": {prefix}{"7" * digits}}}'


def _texts() -> st.SearchStrategy[str | bytes]:
    as_json = requests.map(lambda d: json.dumps(d, allow_nan=True))
    deep = st.builds(_deep, st.sampled_from(FIELDS), st.integers(1, 3000), st.sampled_from("[{"))
    huge = st.builds(_huge, st.sampled_from(FIELDS), st.integers(1, 6000), st.sampled_from(["", "-", "0.", "1e"]))
    return st.one_of(as_json, deep, huge, st.text(max_size=200), st.binary(max_size=200))


def check_outcome(data: Any) -> RequestRejected | ExtendSuffixRequest:
    try:
        request = parse_request(data)
    except RequestRejected as exc:
        body = exc.to_json()
        assert len(body) < 20_000, "the 422 body must not grow with the input"
        for d in exc.details:
            assert d.loc[0] == "body" and d.msg and d.type
            assert len(d.loc) >= 2 or d.type in BODY_LEVEL, f"a 422 that names no field: {d}"
        return exc
    dumped = request.model_dump_json()
    normalised = json.loads(dumped)
    for field in ("learning_rate", "stg_scale", "split_input_duration_threshold", "number_of_steps"):
        assert isinstance(normalised[field], float | int), f"{field} printed as {normalised[field]!r}"
    assert parse_request(dumped) == request  # normalising is a fixed point
    return request


@FUZZ
@given(requests)
def test_random_request_dicts_are_accepted_or_rejected_with_a_located_422(data: dict) -> None:
    check_outcome(data)


@FUZZ
@given(_texts())
def test_random_request_texts_are_accepted_or_rejected_with_a_located_422(text: str | bytes) -> None:
    check_outcome(text)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"training_data_url": "https://example.com/d.zip", "learning_rate": Infinity}',
        b'{"training_data_url": "https://example.com/d.zip", "number_of_steps": ' + b"9" * 5000 + b"}",
        b'{"validation": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"training_data_url": "http://example.com:99999/d.zip"}',
        b"\xff\xfe{\x00}\x00",  # UTF-16 with a BOM: not the UTF-8 a request must be
        b"",
        b"[1, 2, 3]",
        b'{"training_data_url": "https://example.com/d.zip", "number_of_steps": 300}',
    ],
    ids=["infinity", "huge-int", "deep", "bad-port", "utf16", "empty", "array", "valid"],
)
def test_check_cli_exits_0_or_2_with_a_located_422_and_no_traceback(tmp_path: Path, payload: bytes) -> None:
    req = tmp_path / "request.json"
    req.write_bytes(payload)
    out = subprocess.run([str(EXE), "check", str(req)], capture_output=True, text=True, timeout=120)
    assert out.returncode in (0, 2), out.stderr  # the suite's guard has already checked for a traceback
    body = json.loads(out.stdout)
    if out.returncode == 2:
        assert body["status"] == 422 and all(d["loc"][0] == "body" for d in body["detail"])
    else:
        assert body["number_of_steps"] == 300
    assert sorted(p.name for p in tmp_path.iterdir()) == ["request.json"]  # check writes nothing
