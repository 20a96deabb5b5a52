"""The record fields the request metrics read, for records decoded as plain dicts.

A record decoded by the fast path is a msgspec Struct with these attributes already; one
that took the JSON Schema validator's road is a dict, turned into ``RequestFields``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson


class RequestFields(NamedTuple):
    """What consumers.request_metrics reads from a record (absent optional ones: None)."""

    service: Any
    environment: Any
    route: Any
    method: Any
    status: Any
    app_version: Any
    latency_ms: float


def request_fields(value: bytes) -> RequestFields:
    """The fields of the valid record in ``value``."""
    record = orjson.loads(value)
    return RequestFields(
        record.get("service"),
        record.get("environment"),
        record.get("route"),
        record.get("method"),
        record.get("status"),
        record.get("app_version"),
        float(record["latency_ms"]),
    )
