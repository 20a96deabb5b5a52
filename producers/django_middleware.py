"""Django middleware (new style), first in ``MIDDLEWARE``::

    MIDDLEWARE = ["producers.django_middleware.RequestTrailDjangoMiddleware", ...]

``process_exception`` captures a crashing view like a Sentry error middleware would (the
error and its Sentry event ID go into the record; Django then answers 500 as usual).  The
route template is ``request.resolver_match.route``.  The request body is seen through
Django's own request stream as the view reads it; streaming responses are counted as they
are sent and the record goes out when the stream ends.

Optional Django settings: ``REQTRAIL_USER_ID_GETTER`` (a callable or dotted path taking the
request and returning the user ID).  Without it the user ID is the authenticated
``request.user.pk``, else the user ID header.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from producers import shutdown
from producers.capture import CapturingReader
from producers.cycle import RequestCycle, pick_headers, route_template
from producers.guard import capture_internal_exceptions
from producers.pipeline import REQUEST_ID_HEADER, CaptureConfig, RecordPipeline, resolve
from producers.wsgi import ClosingResponse, environ_keys

CYCLE_ATTRIBUTE = "_reqtrail_cycle"


class RequestTrailDjangoMiddleware:
    """Ships one record per request to Kafka; never fails the request itself."""

    sync_capable = True
    async_capable = False

    def __init__(
        self, get_response: Callable[[Any], Any], pipeline: RecordPipeline | None = None
    ) -> None:
        self.get_response = get_response
        self._pipeline = resolve(pipeline)
        self._keys: tuple[CaptureConfig, list[tuple[str, str]]] | None = None
        self.user_id_getter = _configured_user_id_getter()
        with capture_internal_exceptions():
            shutdown.install_signal_handlers()

    def __call__(self, request: Any) -> Any:
        cycle: RequestCycle | None = None
        with capture_internal_exceptions():
            cycle = self._start(request)
        if cycle is None:
            return self.get_response(request)
        try:
            response = self.get_response(request)
        except Exception as exc:
            with capture_internal_exceptions():
                cycle.fail(exc)
                self._finish(cycle, request)
            raise
        finally:
            with capture_internal_exceptions():
                cycle.sentry.exit()
        with capture_internal_exceptions():
            self._respond(cycle, request, response)
        return response

    def process_exception(self, request: Any, exception: Exception) -> None:
        """Record (and send to Sentry) the view's exception; Django still renders the 500."""
        with capture_internal_exceptions():
            cycle = getattr(request, CYCLE_ATTRIBUTE, None)
            if cycle is not None:
                cycle.fail(exception)

    def _start(self, request: Any) -> RequestCycle:
        pipeline = self._pipeline()
        if self._keys is None or self._keys[0] is not pipeline.capture:
            self._keys = (pipeline.capture, environ_keys(pipeline.capture))
        meta = request.META
        headers = {}
        for name, key in self._keys[1]:
            value = meta.get(key)
            if value is not None:
                headers[name] = value
        cycle = RequestCycle(
            pipeline,
            request.method,
            request.path,
            meta.get("QUERY_STRING", ""),
            headers,
            meta.get("REMOTE_ADDR"),
        )
        setattr(request, CYCLE_ATTRIBUTE, cycle)
        stream = getattr(request, "_stream", None)
        if stream is not None:
            request._stream = CapturingReader(stream, cycle.request_body)
        return cycle

    def _respond(self, cycle: RequestCycle, request: Any, response: Any) -> None:
        cycle.status = int(response.status_code)
        if not response.has_header(REQUEST_ID_HEADER):
            response[REQUEST_ID_HEADER] = cycle.request_id
        allow = cycle.pipeline.capture.header_allowlist
        cycle.set_response_headers(pick_headers(response.items(), allow))
        if not getattr(response, "streaming", False):
            cycle.response_body.feed(response.content)
            self._finish(cycle, request)
        elif getattr(response, "is_async", False):
            self._finish(cycle, request)
        else:
            response.streaming_content = ClosingResponse(
                response.streaming_content, cycle, lambda: self._finish(cycle, request)
            )

    def _finish(self, cycle: RequestCycle, request: Any) -> None:
        if not cycle.request_body.size:
            body = getattr(request, "_body", None)
            if body:
                cycle.request_body.feed(body)
        if self.user_id_getter is not None:
            cycle.set_user(self.user_id_getter(request))
        else:
            cycle.set_user(_authenticated_user_id(request))
        match = getattr(request, "resolver_match", None)
        cycle.finish(route_template(getattr(match, "route", None)))


def _authenticated_user_id(request: Any) -> str | None:
    user = getattr(request, "user", None)
    if user is not None and getattr(user, "is_authenticated", False):
        pk = getattr(user, "pk", None)
        return str(pk) if pk is not None else None
    return None


def _configured_user_id_getter() -> Callable[[Any], str | None] | None:
    from django.conf import settings
    from django.utils.module_loading import import_string

    getter = getattr(settings, "REQTRAIL_USER_ID_GETTER", None)
    if isinstance(getter, str):
        getter = import_string(getter)
    return getter
