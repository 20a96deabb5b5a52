"""Keeping a rendered record under the producer's maximum size, by cutting, never dropping.

kafka-python refuses a record larger than ``max_request_size`` (and the broker one larger
than ``message.max.bytes``), so a record rendered past ``REQTRAIL_KAFKA_MAX_REQUEST_SIZE``
would be lost.  ``fit_record`` cuts it down instead: first the bodies (largest first, on a
UTF-8 character boundary, marking them ``*_truncated``), then, if that is not enough, every
other long text (query, path, user agent, header values, error message and stack) to
``LAST_RESORT_CHARS``.  The original sizes stay in ``*_body_size``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, MutableMapping
from typing import Any

import orjson

# kafka-python's estimate adds the record batch header (61 bytes) and the record's own
# framing (varints, attributes) to key + value; this covers both with room to spare.
RECORD_OVERHEAD = 256
BODY_MARGIN = 64
LAST_RESORT_CHARS = 1024
_BODIES = (
    ("request_body", "request_body_truncated"),
    ("response_body", "response_body_truncated"),
)
_TEXTS = ("query", "path", "user_agent")


Event = MutableMapping[str, Any]


def dumps(event: Event) -> bytes:
    return orjson.dumps(event, default=str)


def fit_record(
    event: Event, key: bytes | None, max_bytes: int, render: Callable[..., bytes] = dumps
) -> bytes:
    """``render(event)`` at most ``max_bytes`` with the key and Kafka's framing (the event is
    cut in place when needed); as small as it gets if even that is not enough."""
    limit = max_bytes - RECORD_OVERHEAD - (len(key) if key else 0)
    payload = render(event)
    for _ in range(8):  # each pass cuts at least one body; JSON escapes may need a second
        excess = len(payload) - limit
        if excess <= 0:
            return payload
        if not _cut_largest_body(event, excess):
            break
        payload = render(event)
    if len(payload) > limit:
        _cut_texts(event)
        payload = render(event)
    return payload


def _cut_largest_body(event: Event, excess: int) -> bool:
    """Shorten the largest body by about ``excess`` encoded bytes; False if none is left."""
    present = [(len(event[name]), name, flag) for name, flag in _BODIES if event.get(name)]
    if not present:
        return False
    _size, name, flag = max(present)
    text: str = event[name]
    raw = text.encode("utf-8", "surrogatepass")
    encoded = len(orjson.dumps(text)) - 2  # JSON escapes make it longer than the raw bytes
    ratio = max(1.0, encoded / max(1, len(raw)))
    keep = max(0, len(raw) - math.ceil(excess / ratio) - BODY_MARGIN)
    event[name] = raw[:keep].decode("utf-8", "ignore")  # a cut character is dropped whole
    event[flag] = True
    return True


def _cut_texts(event: Event) -> None:
    for name, _flag in _BODIES:
        if event.get(name):
            event[name] = ""
    for name in _TEXTS:
        value = event.get(name)
        if isinstance(value, str) and len(value) > LAST_RESORT_CHARS:
            event[name] = value[:LAST_RESORT_CHARS]
    for name in ("request_headers", "response_headers"):
        headers = event.get(name)
        if isinstance(headers, dict):
            event[name] = {k[:256]: str(v)[:LAST_RESORT_CHARS] for k, v in headers.items()}
    error = event.get("error")
    if isinstance(error, dict):
        for name in ("message", "stack"):
            if isinstance(error.get(name), str):
                error[name] = error[name][:LAST_RESORT_CHARS]
