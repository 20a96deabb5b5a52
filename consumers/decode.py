"""Stage 1: Kafka record bytes -> a validated record, or the reason it is poison.

The common case (valid JSON satisfying the schema) raises no exception: ``orjson.loads``
only raises for bad JSON, and validity is first asked of a generated accept-only check
(``consumers.fastcheck``); only records it does not accept go through the shared
compiled validator, which gives the authoritative answer and the reason.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal, NamedTuple

import orjson

from consumers.fastcheck import FastCheck, compile_fast_check
from schemas import json_schema, record_errors


class Poison(NamedTuple):
    """Why a record cannot be indexed: ``kind`` is ``undecodable`` or ``schema``."""

    kind: Literal["undecodable", "schema"]
    reason: str


@lru_cache(maxsize=1)
def fast_check() -> FastCheck:
    return compile_fast_check(json_schema())


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
    if fast_check()(record):
        return record
    problem = record_errors(record)
    if problem is not None:
        return Poison("schema", problem)
    return record
