"""The record validator agrees with the reference JSON Schema implementation."""

from __future__ import annotations

import copy
import random
from typing import Any

import jsonschema

from reqtrail.schemas import FIELDS, is_valid, json_schema, record_errors
from reqtrail.schemas.samples import sample_records

ODD_VALUES: list[Any] = [
    None,
    "",
    "x",
    "x" * 300,
    "x" * 5000,
    "ü" * 256,  # 256 characters, 512 bytes: lengths count characters
    0,
    -1,
    1,
    99,
    100,
    200.0,
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


def _reference() -> jsonschema.protocols.Validator:
    schema = json_schema()
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_realistic_records_are_valid() -> None:
    """Every generated sample record is valid, for the validator and the reference."""
    reference = _reference()
    for record in sample_records(300, seed=2):
        assert is_valid(record), record_errors(record)
        assert reference.is_valid(record)


def test_the_validator_agrees_with_the_reference_implementation() -> None:
    """On thousands of mutated records, valid for one means valid for the other."""
    reference = _reference()
    valid = invalid = 0
    for record in _mutations(seed=31, count=4000):
        expected = reference.is_valid(record)
        assert is_valid(record) is expected, (record, record_errors(record))
        assert (record_errors(record) is None) is expected
        valid += expected
        invalid += not expected
    assert valid > 200 and invalid > 2000  # both answers were exercised


def test_the_reason_names_the_field_and_the_problem() -> None:
    """A violation is reported in one line that starts with the path of the bad value."""
    record = next(iter(sample_records(1, seed=3)))
    reason = record_errors({**record, "status": "200"})
    assert reason is not None and reason.startswith("data.status: ") and "\n" not in reason
    nested = record_errors({**record, "error": {"type": 5, "message": "m"}})
    assert nested is not None and nested.startswith("data.error.type: ")
    extra = record_errors({**record, "surprise": 1})
    assert extra is not None and "surprise" in extra
