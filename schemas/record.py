"""The request record: the one definition that producer, consumer and dashboard share.

Every field is declared once here, with its JSON type and its Elasticsearch mapping.
``reqtrail.schemas.generate`` turns this table into the checked-in JSON Schema and index template;
a test fails when those files drift from this definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1
# The route of a request that matched no route of the framework (a 404 for an unknown URL).
UNMATCHED_ROUTE = "(unmatched)"

# Reusable ES mappings -------------------------------------------------------------------
KEYWORD: dict[str, Any] = {"type": "keyword", "ignore_above": 1024}
LONG_KEYWORD: dict[str, Any] = {"type": "keyword", "ignore_above": 4096}
STORED_ONLY: dict[str, Any] = {"type": "keyword", "index": False, "doc_values": False}
SEARCHABLE_BODY: dict[str, Any] = {"type": "text"}
HEADERS: dict[str, Any] = {"type": "object", "dynamic": True}
# Every page aggregates by route: its global ordinals are built when a refresh makes new
# segments visible, not by the first query after it (a route has few distinct values).
ROUTE_KEYWORD: dict[str, Any] = {**KEYWORD, "eager_global_ordinals": True}


@dataclass(frozen=True)
class Field:
    """One top-level field of the record."""

    name: str
    json: dict[str, Any]
    es: dict[str, Any]
    doc: str
    required: bool = False
    nullable: bool = True
    is_body: bool = False


def _s(**extra: Any) -> dict[str, Any]:
    return {"type": "string", **extra}


ERROR_JSON: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "message"],
    "properties": {
        "type": _s(maxLength=512),
        "message": _s(),
        "sentry_event_id": {"type": ["string", "null"]},
        "stack": {"type": ["string", "null"]},
    },
}
ERROR_ES: dict[str, Any] = {
    "properties": {
        "type": KEYWORD,
        "message": {"type": "text", "fields": {"raw": KEYWORD}},
        "sentry_event_id": KEYWORD,
        "stack": STORED_ONLY,
    }
}
HEADERS_JSON: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}

FIELDS: tuple[Field, ...] = (
    Field(
        "schema_version",
        {"type": "integer", "const": SCHEMA_VERSION},
        {"type": "short"},
        "Version of this definition the record was written with.",
        required=True,
        nullable=False,
    ),
    Field(
        "@timestamp",
        _s(format="date-time"),
        {"type": "date"},
        "Request start, UTC, millisecond precision (ISO 8601).",
        required=True,
        nullable=False,
    ),
    Field(
        "request_id",
        # 128 characters are at most 512 bytes in UTF-8, Elasticsearch's limit on _id:
        # JSON Schema counts characters, so a byte limit is kept by bounding those.
        _s(minLength=1, maxLength=128),
        KEYWORD,
        "Incoming X-Request-ID when usable (1-128 printable characters, at most 512 bytes "
        "in UTF-8), else a generated time-ordered ID; also the ES _id.",
        required=True,
        nullable=False,
    ),
    Field(
        "original_request_id",
        _s(maxLength=256),
        KEYWORD,
        "The client's X-Request-ID when it could not be the ID (too long, control "
        "characters, blank), cut to 256 characters.",
    ),
    Field("user_id", _s(maxLength=256), KEYWORD, "Player / account ID."),
    Field("device_id", _s(maxLength=256), KEYWORD, "Device ID sent by the client."),
    Field("session_id", _s(maxLength=256), KEYWORD, "Client session ID."),
    Field(
        "method",
        _s(minLength=1, maxLength=16),
        KEYWORD,
        "HTTP method.",
        required=True,
        nullable=False,
    ),
    Field("path", _s(), LONG_KEYWORD, "Request path as received.", required=True, nullable=False),
    Field(
        "route",
        _s(maxLength=512),
        ROUTE_KEYWORD,
        "Route template of the framework, e.g. /units/{unit_id}; aggregates endpoints; "
        f"{UNMATCHED_ROUTE} when no route matched.",
    ),
    Field("query", _s(), LONG_KEYWORD, "Query string, sensitive keys redacted."),
    Field(
        "status",
        {"type": "integer", "minimum": 100, "maximum": 599},
        {"type": "short"},
        "HTTP status sent to the client (500 when the view raised).",
        required=True,
        nullable=False,
    ),
    Field(
        "latency_ms",
        {"type": "number", "minimum": 0},
        {"type": "float"},
        "Server processing time in milliseconds.",
        required=True,
        nullable=False,
    ),
    Field("request_headers", HEADERS_JSON, HEADERS, "Allow-listed request headers."),
    Field("response_headers", HEADERS_JSON, HEADERS, "Allow-listed response headers."),
    Field(
        "request_body",
        _s(),
        STORED_ONLY,
        "Request body (UTF-8 text), redacted, truncated.",
        is_body=True,
    ),
    Field(
        "request_body_truncated",
        {"type": "boolean"},
        {"type": "boolean"},
        "True when request_body was cut at the configured size.",
    ),
    Field(
        "request_body_size",
        {"type": "integer", "minimum": 0},
        {"type": "long"},
        "Original request body size in bytes.",
    ),
    Field(
        "response_body",
        _s(),
        STORED_ONLY,
        "Response body (UTF-8 text), redacted, truncated.",
        is_body=True,
    ),
    Field(
        "response_body_truncated",
        {"type": "boolean"},
        {"type": "boolean"},
        "True when response_body was cut at the configured size.",
    ),
    Field(
        "response_body_size",
        {"type": "integer", "minimum": 0},
        {"type": "long"},
        "Original response body size in bytes (streamed bodies: bytes sent).",
    ),
    Field("client_ip", _s(maxLength=128), KEYWORD, "Client IP, or its salted hash."),
    Field("user_agent", _s(), LONG_KEYWORD, "User-Agent header."),
    Field("app_version", _s(maxLength=128), KEYWORD, "Server build / release version."),
    Field("client_version", _s(maxLength=128), KEYWORD, "Game client version."),
    Field("platform", _s(maxLength=64), KEYWORD, "Client platform (ios, android, ...)."),
    Field(
        "service",
        _s(maxLength=128),
        KEYWORD,
        "Service that handled the request.",
        required=True,
        nullable=False,
    ),
    Field("host", _s(maxLength=256), KEYWORD, "Host name of the server process."),
    Field("environment", _s(maxLength=64), KEYWORD, "dev, staging, prod..."),
    Field(
        "sample_rate",
        {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        {"type": "float"},
        "Probability this record was kept; counts can be re-weighted.",
    ),
    Field(
        "replay_of",
        _s(minLength=1, maxLength=256),
        KEYWORD,
        "request_id of the recorded request this one replays (X-Reqtrail-Replay-Of header).",
    ),
    Field(
        "error",
        ERROR_JSON,
        ERROR_ES,
        "Present when the request raised: type, message, sentry_event_id, stack.",
    ),
)

FIELD_NAMES: frozenset[str] = frozenset(f.name for f in FIELDS)
REQUIRED_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.required)


@dataclass(frozen=True)
class IndexOptions:
    """Knobs of the generated index template (defaults produce the checked-in file)."""

    prefix: str = "reqtrail"
    refresh_interval: str = "1s"
    replicas: int = 0
    shards: int = 1
    index_bodies: bool = False
    extra_settings: dict[str, Any] = field(default_factory=dict)
