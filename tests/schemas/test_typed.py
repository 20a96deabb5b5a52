"""The typed fast path never accepts what the JSON Schema refuses, and accepts real records."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import orjson
import pytest

from reqtrail.schemas import FIELDS, is_valid, json_schema
from reqtrail.schemas.samples import sample_records
from reqtrail.schemas.typed import _struct, decode_valid, is_date_time
from tests.schemas.test_validate import ODD_VALUES, _mutations, _reference

EDGE_VALUES: list[Any] = [
    2**63,
    -(2**63),
    2**70,
    1e308,
    -0.0,
    1e-300,
    100.0,
    599.5,
    "\u0000",
    "\ud7ff" * 3,
    "x" * 128,
    "x" * 129,
    {"type": "T", "message": "m", "stack": 5},
    {"type": "T", "message": None},
    {"type": "x" * 513, "message": "m"},
    {"a": "b", "c": None},
    [{"type": "T", "message": "m"}],
]

DATE_TIMES = [
    "2026-11-30T03:40:50.064Z",
    "2026-11-30t03:40:50.064z",
    "2026-11-30T03:40:50+05:30",
    "2026-11-30T03:40:50-00:00",
    "2026-11-30T03:40:50.1234567890Z",
    "2024-02-29T00:00:00Z",
    "2026-02-29T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-04-31T00:00:00Z",
    "2026-12-31T23:59:59Z",
    "2026-12-31T23:59:60Z",
    "2026-11-30 03:40:50Z",
    "2026-11-30T03:40:50",
    "2026-11-30T03:40:50+0530",
    "2026-11-30T03:40Z",
    "2026-11-30T24:00:00Z",
    "2026-11-30T03:40:50.Z",
    "2026-11-30T03:40:50+24:00",
    "2026-13-01T00:00:00Z",
    "2026-00-10T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "20261130T034050Z",
    "2026-11-30T03:40:50Z ",
    "２０２６-11-30T03:40:50Z",
    "2026-11-03T03:40:5٣Z",  # an Arabic-Indic digit
    "",
]


def test_every_sample_record_takes_the_fast_path() -> None:
    """Records as the producers write them are accepted, with their IDs readable."""
    for record in sample_records(500, seed=4):
        ids = decode_valid(orjson.dumps(record))
        assert ids is not None, record
        assert ids.timestamp == record["@timestamp"]
        assert ids.request_id == record["request_id"]


def test_what_the_fast_path_accepts_the_schema_accepts() -> None:
    """On thousands of mutated records the fast path never accepts an invalid one, and it
    accepts nearly all valid ones (the rest go to the JSON Schema validator)."""
    reference = _reference()
    accepted = valid = 0
    for record in _mutations(seed=47, count=4000):
        fast = decode_valid(orjson.dumps(record)) is not None
        expected = reference.is_valid(record)
        assert not fast or expected, record
        assert is_valid(record) is expected
        accepted += fast
        valid += expected
    assert valid > 200 and accepted >= 0.9 * valid, (accepted, valid)


def test_every_field_with_every_odd_value() -> None:
    """Each field set to each odd value (and removed): never wider than the schema."""
    reference = _reference()
    base = next(iter(sample_records(1, seed=8)))
    for f in FIELDS:
        for value in [*ODD_VALUES, *EDGE_VALUES, ...]:
            record = copy.deepcopy(base)
            if value is ...:
                record.pop(f.name, None)
            else:
                record[f.name] = copy.deepcopy(value)
            value_bytes = json.dumps(record).encode()  # orjson stops at 64-bit integers
            if decode_valid(value_bytes) is not None:
                assert reference.is_valid(record), (f.name, value)


@pytest.mark.parametrize("timestamp", DATE_TIMES)
def test_date_times_are_checked_no_wider_than_the_schema(timestamp: str) -> None:
    """``format: date-time``: whatever the fast path accepts, the reference accepts."""
    record = dict(next(iter(sample_records(1, seed=5))), **{"@timestamp": timestamp})
    fast = decode_valid(orjson.dumps(record))
    assert (fast is not None) is is_date_time(timestamp)
    if fast is not None:
        assert _reference().is_valid(record) and is_valid(record)


def test_the_usual_date_time_forms_are_accepted() -> None:
    """Z or offsets, any fraction, leap days: the forms producers write are fast."""
    for timestamp in DATE_TIMES[:6]:
        assert is_date_time(timestamp), timestamp
    for timestamp in ("2026-02-29T00:00:00Z", "2026-11-30 03:40:50Z", "2026-11-30T03:40:50"):
        assert not is_date_time(timestamp), timestamp


def test_json_the_schema_allows_in_other_forms_is_left_to_the_validator() -> None:
    """200.0 is an integer to JSON Schema but not to msgspec: None, not a wrong verdict."""
    record = dict(next(iter(sample_records(1, seed=6))), status=200.0)
    assert decode_valid(orjson.dumps(record)) is None
    assert is_valid(record)


def test_a_rule_it_cannot_translate_is_an_error_at_build_time() -> None:
    """A new keyword in the definition must not be skipped silently."""
    schema: dict[str, Any] = copy.deepcopy(json_schema())
    schema["properties"]["route"]["pattern"] = "^/"
    with pytest.raises(NotImplementedError, match="pattern"):
        _struct(schema, "", [])
    schema = copy.deepcopy(json_schema())
    schema["properties"]["error"]["properties"]["at"] = {"type": "string", "format": "date"}
    with pytest.raises(NotImplementedError, match="format date"):
        _struct(schema, "", [])


def test_malformed_bytes_are_refused_without_raising() -> None:
    """Not JSON, not an object, trailing bytes, bad UTF-8: None."""
    value = orjson.dumps(next(iter(sample_records(1, seed=7))))
    rng = random.Random(3)
    cases = [
        b"",
        b"[]",
        b"null",
        value + b" x",
        b"\xff" + value,
        value[:-1],
        value[: len(value) // 2],
    ]
    cases += [bytes(rng.getrandbits(8) for _ in range(64)) for _ in range(20)]
    for case in cases:
        assert decode_valid(case) is None, case
