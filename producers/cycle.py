"""One request from start to record, shared by the ASGI, WSGI and Django middlewares.

A framework adapter extracts plain values (method, path, query, client IP, the four ID
headers), opens a ``RequestCycle``, hands the other headers over in its event as they are
(``reqtrail.producers.headers`` makes record fields of them off the request thread), feeds
the two ``BodyCapture``s while bodies stream past, reports the response status / headers
and any exception, and calls ``finish()``.  The cycle binds ``request_id``/``user_id``/
``device_id``/``session_id`` into structlog's contextvars (so the app's own logs carry them
too), opens the Sentry scope, times the request and emits exactly one event into the
pipeline.

The adapter gives the cycle ``find_user``, which asks the configured getter and then the
framework for the user; the cycle settles the user once (``reqtrail.producers.users`` has
the precedence), before an exception is reported and at the latest when the record goes out.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from reqtrail.producers.capture import BodyCapture
from reqtrail.producers.guard import capture_internal_exceptions, report_internal_error
from reqtrail.producers.headers import (
    DEVICE_ID_HEADER,
    REQUEST_ID_HEADER,
    SESSION_ID_HEADER,
)
from reqtrail.producers.ids import new_request_id, request_id_from
from reqtrail.producers.pipeline import RecordPipeline
from reqtrail.producers.request_context import bind_user_id, bound_user_id, rebind_request_context
from reqtrail.producers.sentry import INACTIVE_SCOPE, open_request_scope
from reqtrail.producers.users import RequestUser, UserLike, as_user

MAX_STACK_CHARS = 8192
CLIENT_CLOSED_STATUS = 499

_current_cycle: ContextVar[RequestCycle | None] = ContextVar("reqtrail_cycle", default=None)


class RequestCycle:
    """Per-request state between the framework adapter and the pipeline."""

    __slots__ = (
        "_t0",
        "_user_settled",
        "app_user",
        "error",
        "event",
        "exception",
        "find_user",
        "mechanism",
        "pipeline",
        "request_body",
        "request_id",
        "response_body",
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
        client_ip: str | None,
        incoming_id: str | None,
        user_id: str | None,
        device_id: str | None,
        session_id: str | None,
        mechanism: str = "reqtrail",
    ) -> None:
        """Open the request.  ``incoming_id`` is the ``X-Request-ID`` header (None: absent);
        ``user_id`` / ``device_id`` / ``session_id`` are the header values (None: absent or
        empty).  The adapter then hands the headers over in ``event`` (``headers`` module)."""
        started_at = time.time()
        self._t0 = time.perf_counter_ns()
        self.pipeline = pipeline
        if incoming_id is None:
            request_id, original_id = new_request_id(), None
        else:
            request_id, original_id = request_id_from(incoming_id)
        self.request_id = request_id
        # The header's value; the very object bound below, so a value the app binds in its
        # place is told apart from it (settle_user).
        self.user_id = user_id
        self.app_user: RequestUser | None = None
        self.find_user: Callable[[], UserLike] | None = None
        self._user_settled = False
        self.mechanism = mechanism
        rebind_request_context(request_id, user_id, device_id, session_id)
        # Only fields with a value: the chain drops Nones, and skips that work when none came.
        # The IDs the request came with are the record's, whatever the app binds later
        # (merging structlog's context skips keys the event has): the request ID is the one
        # X-Request-ID answers with.  The user is settled apart (``settle_user``).
        event: dict[str, Any] = {
            "started_at": started_at,
            "method": method,
            "path": path,
            "request_id": request_id,
        }
        if device_id is not None:
            event["device_id"] = device_id
        if session_id is not None:
            event["session_id"] = session_id
        if query:
            event["query"] = query
        if client_ip is not None:
            event["client_ip"] = client_ip
        if original_id is not None:
            event["original_request_id"] = original_id
        self.event = event
        limit = pipeline.capture.body_max_bytes
        self.request_body = BodyCapture(limit)
        self.response_body = BodyCapture(limit)
        self.status: int | None = None
        self.exception: BaseException | None = None
        self.error: dict[str, Any] | None = None
        self.sentry = open_request_scope(request_id, user_id, device_id)
        _current_cycle.set(self)

    @classmethod
    def from_headers(
        cls,
        pipeline: RecordPipeline,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        client_ip: str | None,
        mechanism: str = "reqtrail",
    ) -> RequestCycle:
        """Open the request from ``{lower-case name: value}`` of the wanted headers (WSGI,
        Django); the record's header fields are made from them off the request thread."""
        get = headers.get
        cycle = cls(
            pipeline,
            method,
            path,
            query,
            client_ip,
            get(REQUEST_ID_HEADER),
            get(pipeline.capture.user_id_header) or None,
            get(DEVICE_ID_HEADER) or None,
            get(SESSION_ID_HEADER) or None,
            mechanism,
        )
        cycle.event["_headers"] = headers
        return cycle

    def settle_user(self) -> None:
        """Decide the request's user (once): app's choice, getter, framework, header."""
        if self._user_settled:
            return
        self._user_settled = True
        user = self.app_user
        if user is None:
            bound = bound_user_id()
            if bound is not self.user_id and isinstance(bound, str | int) and bound != "":
                user = as_user(bound)  # the app bound user_id in structlog's contextvars
        if user is None and self.find_user is not None:
            try:  # capture_internal_exceptions(): a failing getter still leaves a record
                found = self.find_user()
                if found is not None:
                    user = as_user(found)
            except Exception as exc:
                report_internal_error(exc)
        if user is None:
            if self.user_id:
                self.event["user_id"] = self.user_id
            return
        self.user_id = user.id
        self.event["user_id"] = user.id
        self.sentry.set_user(user)

    def fail(self, exc: BaseException, *, handled: bool = False) -> None:
        """The view raised ``exc``: describe it and report it to Sentry (once).

        Unhandled (the default) means it reached the middleware, as Sentry's own framework
        integrations report a crashing view; ``report_exception`` reports handled ones.
        """
        if self.exception is exc:
            return
        self.exception = exc
        stack = "".join(traceback.format_exception(exc))[-MAX_STACK_CHARS:]
        self.error = {
            "type": _qualified_name(type(exc)),
            "message": str(exc)[:4096],
            "stack": stack,
        }
        self.settle_user()
        event_id = self.sentry.capture(exc, self.mechanism, handled)
        if event_id is not None:
            self.error["sentry_event_id"] = event_id

    def finish(self, route: str | None = None) -> None:
        """Close the Sentry scope and emit the record (exactly once)."""
        self.settle_user()
        event = self.event
        # Whole microseconds, in ms (integer division: a third of round()'s cost).
        event["latency_ms"] = (time.perf_counter_ns() - self._t0) // 1000 / 1000
        _current_cycle.set(None)
        if self.sentry is not INACTIVE_SCOPE:
            self.sentry.exit()
        status = self.status
        if status is None:
            status = 500 if self.exception is not None else CLIENT_CLOSED_STATUS
        event["status"] = status
        if route is not None:
            event["route"] = route
        if self.error is not None:
            event["error"] = self.error
        body = self.request_body
        if body.size:
            event["request_body"] = body.head
            event["request_body_size"] = body.size
        body = self.response_body
        if body.size:
            event["response_body"] = body.head
            event["response_body_size"] = body.size
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
        cycle.fail(exc, handled=True)
    return cycle.error.get("sentry_event_id") if cycle.error else None


def set_user(
    user_id: str | int | None, *, username: str | None = None, email: str | None = None
) -> None:
    """Name the user of the current request; this beats every other source of the user ID.

    Call it in a view once the player is known (after login, say).  ``user_id`` goes into
    the record and, with ``username`` and ``email``, to Sentry.  It also binds ``user_id``
    into structlog's contextvars, so the app's own log lines carry it.  Outside a request it
    only binds.  Works from threads the framework runs sync views in, unlike a bare
    ``bind_contextvars`` there.
    """
    user = as_user({"id": user_id, "username": username, "email": email})
    bind_user_id(user.id if user is not None else None)
    cycle = _current_cycle.get()
    if cycle is None:
        return
    cycle.app_user = user
    if user is not None:
        with capture_internal_exceptions():
            cycle.sentry.set_user(user)


def _qualified_name(kind: type[BaseException]) -> str:
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"
