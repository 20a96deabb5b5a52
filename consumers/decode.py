"""Stage 1: Kafka record bytes -> a validated record's IDs, or the reason it is poison.

The common case raises no exception: ``reqtrail.schemas.typed.decode_valid`` decodes and checks a
record in one compiled step and answers None instead of raising. Only what it refuses is
decoded again with orjson and put to the JSON Schema validator, for the verdict (a few
valid records take this road) and for the reason of a poison record.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import orjson

from reqtrail.schemas import is_valid, record_errors
from reqtrail.schemas.typed import RecordIds, decode_valid


class Poison(NamedTuple):
    """Why a record cannot be indexed: ``kind`` is ``undecodable`` or ``schema``."""

    kind: Literal["undecodable", "schema"]
    reason: str


class ValidIds(NamedTuple):
    """The IDs of a record the JSON Schema validator accepted (``RecordIds``)."""

    timestamp: str
    request_id: str


def decode_record(value: bytes | None) -> RecordIds | Poison:
    """The IDs of the valid record in ``value``, or a Poison saying why it is not one."""
    if not value:
        return Poison("undecodable", "empty message value")
    ids = decode_valid(value)
    return ids if ids is not None else _decode_and_validate(value)


def _decode_and_validate(value: bytes) -> RecordIds | Poison:
    try:
        record = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return Poison("undecodable", _not_utf8(value) or f"not JSON: {exc}")
    if type(record) is not dict:
        return Poison("schema", f"a record must be a JSON object, got {type(record).__name__}")
    if is_valid(record):
        return ValidIds(record["@timestamp"], record["request_id"])
    return Poison("schema", record_errors(record) or "not valid against the record schema")


def _not_utf8(value: bytes) -> str | None:
    """Where ``value`` stops being UTF-8 (orjson only says "surrogates not allowed")."""
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = value[exc.start : exc.end].hex(" ")
        return f"not UTF-8: byte {bad} at position {exc.start} ({exc.reason})"
    return None
