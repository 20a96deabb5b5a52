"""One request from start to record, shared by the ASGI, WSGI and Django middlewares.

A framework adapter extracts plain values (method, path, query, the wanted headers as a
``{lower-case name: value}`` dict, client IP), opens a ``RequestCycle``, feeds the two
``BodyCapture``s while bodies stream past, reports the response status / headers and any
exception, and calls ``finish()``.  The cycle binds ``request_id``/``user_id``/``device_id``/
``session_id`` into structlog's contextvars (so the app's own logs carry them too), opens the
Sentry scope, times the request and emits exactly one event into the pipeline.
"""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from producers.capture import BodyCapture
from producers.guard import capture_internal_exceptions
from producers.ids import request_id_from
from producers.pipeline import (
    CLIENT_VERSION_HEADER,
    CONTENT_TYPE_HEADER,
    DEVICE_ID_HEADER,
    PLATFORM_HEADER,
    REQUEST_ID_HEADER,
    SESSION_ID_HEADER,
    USER_AGENT_HEADER,
    RecordPipeline,
)
from producers.request_context import rebind_request_context
from producers.sentry import open_request_scope

MAX_STACK_CHARS = 8192
CLIENT_CLOSED_STATUS = 499

_current_cycle: ContextVar[RequestCycle | None] = ContextVar("reqtrail_cycle", default=None)


class RequestCycle:
    """Per-request state between the framework adapter and the pipeline."""

    __slots__ = (
        "_t0",
        "error",
        "event",
        "exception",
        "pipeline",
        "request_body",
        "request_id",
        "response_body",
        "response_headers",
        "sentry",
        "status",
        "user_id",
    )

    def __init__(
        self,
        pipeline: RecordPipeline,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        client_ip: str | None,
    ) -> None:
        started_at = time.time()
        self._t0 = time.perf_counter()
        capture = pipeline.capture
        self.pipeline = pipeline
        request_id, original_id = request_id_from(headers.get(REQUEST_ID_HEADER))
        self.request_id = request_id
        self.user_id = user_id = headers.get(capture.user_id_header) or None
        device_id = headers.get(DEVICE_ID_HEADER)
        rebind_request_context(request_id, user_id, device_id, headers.get(SESSION_ID_HEADER))
        allow = capture.header_allowlist
        self.event: dict[str, Any] = {
            "started_at": started_at,
            "method": method,
            "path": path,
            "query": query or None,
            "request_headers": (
                headers
                if allow.issuperset(headers)
                else {k: headers[k] for k in allow.intersection(headers)}
            ),
            "client_ip": client_ip,
            "user_agent": headers.get(USER_AGENT_HEADER),
            "client_version": headers.get(CLIENT_VERSION_HEADER),
            "platform": headers.get(PLATFORM_HEADER),
            "_request_content_type": headers.get(CONTENT_TYPE_HEADER),
        }
        if original_id is not None:
            self.event["original_request_id"] = original_id
        if capture.app_version_header:
            self.event["app_version"] = headers.get(capture.app_version_header)
        self.request_body = BodyCapture(capture.body_max_bytes)
        self.response_body = BodyCapture(capture.body_max_bytes)
        self.status: int | None = None
        self.response_headers: dict[str, str] | None = None
        self.exception: BaseException | None = None
        self.error: dict[str, Any] | None = None
        self.sentry = open_request_scope(request_id, user_id, device_id)
        _current_cycle.set(self)

    def set_response_headers(self, headers: dict[str, str]) -> None:
        """Record the allow-listed response headers (keys already lower-case)."""
        self.response_headers = headers
        content_type = headers.get(CONTENT_TYPE_HEADER)
        if content_type is not None:
            self.event["_response_content_type"] = content_type

    def set_user(self, user_id: str | None) -> None:
        """A user ID found after the request started (authenticated user, callable)."""
        if user_id:
            self.user_id = user_id
            self.event["user_id"] = user_id
            self.sentry.set_user(user_id)

    def fail(self, exc: BaseException) -> None:
        """The view raised ``exc``: describe it and report it to Sentry (once)."""
        if self.exception is exc:
            return
        self.exception = exc
        stack = "".join(traceback.format_exception(exc))[-MAX_STACK_CHARS:]
        self.error = {
            "type": _qualified_name(type(exc)),
            "message": str(exc)[:4096],
            "stack": stack,
        }
        event_id = self.sentry.capture(exc)
        if event_id is not None:
            self.error["sentry_event_id"] = event_id

    def finish(self, route: str | None = None) -> None:
        """Close the Sentry scope and emit the record (exactly once)."""
        event = self.event
        event["latency_ms"] = round((time.perf_counter() - self._t0) * 1000.0, 3)
        _current_cycle.set(None)
        self.sentry.exit()
        status = self.status
        if status is None:
            status = 500 if self.exception is not None else CLIENT_CLOSED_STATUS
        event["status"] = status
        event["route"] = route
        event["response_headers"] = self.response_headers
        if self.error is not None:
            event["error"] = self.error
        self.request_body.add_to(event, "request")
        self.response_body.add_to(event, "response")
        self.pipeline.emit(event)


def report_exception(exc: BaseException) -> str | None:
    """Attach a handled exception to the current request's record and report it to Sentry.

    For apps that turn an exception into their own error response (a JSON error body with
    status 500, say): the exception never reaches the middleware, so call this from the
    handler. Returns the Sentry event ID (None outside a request or without Sentry).
    """
    cycle = _current_cycle.get()
    if cycle is None:
        return None
    with capture_internal_exceptions():
        cycle.fail(exc)
    return cycle.error.get("sentry_event_id") if cycle.error else None


def _qualified_name(kind: type[BaseException]) -> str:
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def pick_headers(pairs: Iterable[tuple[str, str]], wanted: frozenset[str]) -> dict[str, str]:
    """``{lower-case name: value}`` of the wanted headers among ``(name, value)`` pairs."""
    out: dict[str, str] = {}
    for name, value in pairs:
        lowered = name.lower()
        if lowered in wanted:
            out[lowered] = value
    return out


_FLASK_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_REGEX_GROUP = re.compile(r"\(\?P<([^>]+)>[^)]*\)")


@lru_cache(maxsize=1024)
def route_template(pattern: str | None) -> str | None:
    """Normalise a framework route to ``/units/{unit_id}`` form.

    Flask ``/units/<int:unit_id>``, Django ``units/<int:unit_id>/`` and regex routes
    ``^units/(?P<unit_id>[0-9]+)/$`` all become ``{name}`` placeholders with a leading slash.
    """
    if pattern is None:
        return None
    text = _REGEX_GROUP.sub(r"{\1}", pattern)
    text = _FLASK_PARAM.sub(r"{\1}", text)
    text = text.removeprefix("^").removesuffix("$").removesuffix("\\Z")
    if not text.startswith("/"):
        text = "/" + text
    return text
