"""The generated accept-only check never accepts what the shared schema rejects."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from consumers.fastcheck import compile_fast_check, fast_check_source
from schemas import FIELDS, json_schema, record_errors
from schemas.samples import sample_records

ODD_VALUES: list[Any] = [
    None,
    "",
    "x",
    "x" * 300,
    "x" * 5000,
    0,
    -1,
    1,
    99,
    100,
    599,
    600,
    0.0,
    1.5,
    -0.5,
    True,
    False,
    [],
    ["a"],
    {},
    {"a": "b"},
    {"a": 1},
    {"a": None},
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00.123+02:00",
    "2026-02-30T00:00:00Z",
    "2026-01-01 00:00:00",
    "not a date",
    {"type": "T", "message": "m"},
    {"type": "T", "message": "m", "stack": None, "sentry_event_id": "e"},
    {"type": "T"},
    {"type": "T", "message": "m", "extra": 1},
    {"type": 1, "message": "m"},
]


def _mutations(seed: int, count: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    records = list(sample_records(50, seed=seed))
    names = [f.name for f in FIELDS] + ["unknown_field"]
    mutated = []
    for _ in range(count):
        record = copy.deepcopy(rng.choice(records))
        for _ in range(rng.choice((1, 1, 2))):
            name = rng.choice(names)
            if rng.random() < 0.15:
                record.pop(name, None)
            else:
                record[name] = copy.deepcopy(rng.choice(ODD_VALUES))
        mutated.append(record)
    return mutated


def test_valid_records_take_the_fast_path() -> None:
    """Every realistic valid record is accepted by the fast check."""
    check = compile_fast_check(json_schema())
    records = list(sample_records(500, seed=2))
    assert all(record_errors(r) is None for r in records)
    assert all(check(r) for r in records)


def test_the_fast_check_never_accepts_an_invalid_record() -> None:
    """On thousands of mutated records, fast accept implies schema-valid."""
    check = compile_fast_check(json_schema())
    accepted = rejected = 0
    for record in _mutations(seed=31, count=4000):
        if check(record):
            accepted += 1
            assert record_errors(record) is None, record
        else:
            rejected += 1
    assert accepted > 200 and rejected > 2000  # both branches were exercised


@pytest.mark.parametrize(
    "extra",
    [{"pattern": "^a"}, {"format": "email"}, {"multipleOf": 2}],
)
def test_unknown_keywords_fall_back_to_the_full_validator(extra: dict[str, Any]) -> None:
    """A schema keyword the generator does not know makes it accept nothing."""
    schema = json_schema()
    schema["properties"]["path"] = dict(schema["properties"]["path"], **extra)
    check = compile_fast_check(schema)
    assert not any(check(r) for r in sample_records(20))


def test_generated_source_is_plain_python() -> None:
    """The generated function is readable: one guard per property."""
    source, constants = fast_check_source(json_schema())
    assert source.startswith("def fast_check(d):")
    assert source.count("d.get(") == len(FIELDS)
    assert "_DATE_TIME" in constants
