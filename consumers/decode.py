"""Stage 1: Kafka record bytes -> a validated record, or the reason it is poison.

The common case (valid JSON satisfying the schema) raises no exception: ``orjson.loads``
only raises for bad JSON, and the shared validator answers valid or not without raising;
only records it refuses are asked again for the reason.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import orjson

from schemas import is_valid, record_errors


class Poison(NamedTuple):
    """Why a record cannot be indexed: ``kind`` is ``undecodable`` or ``schema``."""

    kind: Literal["undecodable", "schema"]
    reason: str


def decode_record(value: bytes | None) -> dict[str, Any] | Poison:
    """The record in ``value``, or a Poison saying why it is not a valid record."""
    if not value:
        return Poison("undecodable", "empty message value")
    try:
        record = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return Poison("undecodable", f"not JSON: {exc}")
    if type(record) is not dict:
        return Poison("schema", f"a record must be a JSON object, got {type(record).__name__}")
    if is_valid(record):
        return record
    return Poison("schema", record_errors(record) or "not valid against the record schema")
