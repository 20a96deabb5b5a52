"""structlog processors that turn a finished request into a record, in chain order.

Each is a plain callable ``(logger, method_name, event_dict) -> event_dict``: classes (named
as nouns) when they take options, functions (named as verbs) when they do not.  The
middleware hands over an event with ``started_at`` (epoch seconds), raw body heads as bytes
and the ``_request_content_type`` / ``_response_content_type`` hints; the chain ends with
``RecordRenderer`` producing the JSON bytes and the Kafka key.
"""

from __future__ import annotations

import codecs
import hashlib
import random
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson
from structlog import DropEvent
from structlog.typing import EventDict, WrappedLogger

from reqtrail.producers.record_size import RECORD_OVERHEAD, fit_record
from reqtrail.producers.redaction import SecretMatcher, redact_body, redact_mapping, redact_query
from reqtrail.schemas.record import FIELD_NAMES, SCHEMA_VERSION


class SampledOut(DropEvent):
    """Raised by ``Sampler`` for a record it does not keep (structlog then drops the event)."""


class Sampler:
    """Keeps every error and every slow request, and ``rate`` of the rest.

    Kept records carry ``sample_rate`` (1.0 for the always-kept ones), so counts can be
    re-weighted downstream.
    """

    def __init__(
        self,
        rate: float,
        slow_threshold_ms: float,
        random_fraction: Callable[[], float] = random.random,
    ) -> None:
        self.rate = rate
        self.slow_threshold_ms = slow_threshold_ms
        self.random_fraction = random_fraction
        self.sampled_out = 0

    @property
    def may_drop(self) -> bool:
        """False when every record is kept (``rate`` 1): then it only stamps ``sample_rate``."""
        return self.rate < 1.0

    def __call__(self, logger: WrappedLogger, method_name: str, event: EventDict) -> EventDict:
        if (
            self.rate >= 1.0
            or event.get("error") is not None
            or event.get("status", 500) >= 500
            or event.get("latency_ms", 0.0) >= self.slow_threshold_ms
        ):
            event["sample_rate"] = 1.0
            return event
        if self.rate > 0.0 and self.random_fraction() < self.rate:
            event["sample_rate"] = self.rate
            return event
        self.sampled_out += 1
        raise SampledOut


class ServiceContext:
    """Stamps schema version, service, environment, host and (unless set) app_version."""

    def __init__(self, service: str, environment: str, app_version: str = "") -> None:
        self.fields: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "service": service,
            "environment": environment,
            "host": socket.gethostname(),
        }
        self.app_version = app_version or None

    def __call__(self, logger: WrappedLogger, method_name: str, event: EventDict) -> EventDict:
        event.update(self.fields)
        if self.app_version is not None and event.get("app_version") is None:
            event["app_version"] = self.app_version
        return event


_second_cache: tuple[int, str] = (-1, "")


def format_timestamp(logger: WrappedLogger, method_name: str, event: EventDict) -> EventDict:
    """``started_at`` (epoch seconds) -> ``@timestamp`` as ISO 8601 UTC with milliseconds."""
    global _second_cache
    started = event.pop("started_at", None)
    if started is None:
        started = time.time()
    seconds = int(started)
    cached_second, prefix = _second_cache
    if cached_second != seconds:  # requests cluster in the same second: format it once
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _second_cache = (seconds, prefix)
    event["@timestamp"] = f"{prefix}.{int((started - seconds) * 1000):03d}Z"
    return event


class ClientIpHasher:
    """Replaces ``client_ip`` with the first 32 hex digits of SHA-256(salt + ip)."""

    def __init__(self, salt: str) -> None:
        self.salt = salt.encode("utf-8")

    def __call__(self, logger: WrappedLogger, method_name: str, event: EventDict) -> EventDict:
        ip = event.get("client_ip")
        if ip:
            event["client_ip"] = hashlib.sha256(self.salt + ip.encode("utf-8")).hexdigest()[:32]
        return event


def decode_head(head: bytes, cut: bool) -> str:
    """Bytes -> text; a head cut mid-character loses the incomplete tail instead of garbling."""
    if not cut:
        return head.decode("utf-8", "replace")
    return codecs.getincrementaldecoder("utf-8")("replace").decode(head, final=False)


class BodyTruncator:
    """Cuts ``request_body``/``response_body`` at ``max_bytes`` and decodes them to text.

    Sets ``*_truncated`` and ``*_size`` (the original size in bytes, which the middleware
    counted while the body streamed past; it defaults to the length of what is here).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes

    def __call__(self, logger: WrappedLogger, method_name: str, event: EventDict) -> EventDict:
        limit = self.max_bytes
        for key, truncated_key, size_key in _BODY_KEYS:
            body = event.get(key)
            if body is None:
                continue
            raw = body if type(body) is bytes else _as_bytes(body)
            size = event.get(size_key) or 0
            if size < len(raw):
                size = len(raw)
            cut = size > limit
            event[key] = decode_head(raw[:limit] if cut else raw, cut)
            event[truncated_key] = cut
            event[size_key] = size
        return event


# (body, truncated flag, original size) keys, request then response.
_BODY_KEYS = tuple(
    (p + "_body", p + "_body_truncated", p + "_body_size") for p in ("request", "response")
)


def _as_bytes(body: str | bytes | bytearray | memoryview) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


class SecretRedactor:
    """Hides values of sensitive keys in headers, query string and both bodies."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.matcher = SecretMatcher(keys)

    def __call__(self, logger: WrappedLogger, method_name: str, event: EventDict) -> EventDict:
        matcher = self.matcher
        safe_keys = matcher.safe_keys
        for name in _HEADER_KEYS:
            headers = event.get(name)
            if headers and not safe_keys.issuperset(headers):
                event[name] = redact_mapping(matcher, headers)
        query = event.get("query")
        request_body = event.get("request_body")
        response_body = event.get("response_body")
        # One pre-check over all the texts joined by a newline (a word matching across two
        # of them would only lead to the exact checks below): most requests mention no
        # sensitive key anywhere and need nothing more.
        joined = "\n".join(filter(None, (query, request_body, response_body)))
        if not joined or not matcher.mentions_secret(joined):
            return event
        if query:
            event["query"] = redact_query(matcher, query)
        for key, content_type_key in _REDACTED_BODY_KEYS:
            body = event.get(key)
            if body:
                event[key] = redact_body(matcher, body, event.get(content_type_key))
        return event


_HEADER_KEYS = ("request_headers", "response_headers")
# (body key, content-type hint key), request then response.
_REDACTED_BODY_KEYS = tuple(
    (p + "_body", "_" + p + "_content_type") for p in ("request", "response")
)


def keep_record_fields(logger: WrappedLogger, method_name: str, event: EventDict) -> EventDict:
    """Drop everything that is not a record field (structlog's ``event``, hints) and Nones."""
    # Set operations in C: most events hold only record fields besides two hints, and no None.
    for key in event.keys() - FIELD_NAMES:
        del event[key]
    if None in event.values():
        return {k: v for k, v in event.items() if v is not None}
    return event


def record_key(record: Any) -> bytes | None:
    """The Kafka key of a record: its user ID in UTF-8 (one player's records stay in one
    partition, in order), or None when it has none."""
    if type(record) is dict or isinstance(record, Mapping):
        user_id = record.get("user_id")
        if isinstance(user_id, str):
            return user_id.encode("utf-8")
    return None


class RecordRenderer:
    """Final processor: JSON bytes (orjson) plus the Kafka key (the user ID, UTF-8).

    A record that would exceed ``max_bytes`` (with its key and Kafka's framing) is cut to
    fit by ``record_size.fit_record`` (bodies first, marked truncated), never dropped.
    Returns structlog's ``(args, kwargs)`` form, so the sink logger gets
    ``info(payload, key)``.
    """

    def __init__(self, max_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes
        # Below this, no record can be too large: skip the check (most records are ~1 KB).
        self._safe = (max_bytes or 0) - RECORD_OVERHEAD - 4096

    def __call__(
        self, logger: WrappedLogger, method_name: str, event: EventDict
    ) -> tuple[tuple[bytes, bytes | None], dict[str, Any]]:
        payload = orjson.dumps(event, default=str)
        user_id = event.get("user_id")
        key = user_id.encode("utf-8") if type(user_id) is str else record_key(event)
        if self.max_bytes is not None and len(payload) > self._safe:
            payload = fit_record(event, key, self.max_bytes)
        return (payload, key), {}
