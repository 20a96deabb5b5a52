"""Stage 1: Kafka record bytes -> a validated record, or the reason it is poison.

The common case (valid JSON satisfying the schema) raises no exception: ``orjson.loads``
and the compiled validator only raise for bad input.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import orjson

from schemas.validate import record_errors


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
    problem = record_errors(record)
    if problem is not None:
        return Poison("schema", problem)
    return record
