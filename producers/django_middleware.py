"""Django middleware, sync and async, first in ``MIDDLEWARE``::

    INSTALLED_APPS = [..., "reqtrail.django"]
    MIDDLEWARE = ["reqtrail.django.middleware.RequestTrailMiddleware", ...]

Under WSGI it runs as a sync middleware, under ASGI as an async one (Django calls it in
the mode of the chain, so neither pays an adaptation).  ``process_exception`` captures a
crashing view like Sentry's Django integration would (the user settled first, the event
marked unhandled; the error and its Sentry event ID go into the record; Django then answers
500 as usual).  The route template comes from ``request.resolver_match`` (``(unmatched)``
when no URL pattern matched).  The request body is seen through Django's own request stream
as the view reads it; streaming responses are counted as they are sent and the record goes
out when the stream ends.

Settings come from ``settings.REQTRAIL`` (see ``reqtrail.producers.django_config``); a bad
one stops the middleware from loading with ImproperlyConfigured naming the key.  The user is,
in order: ``reqtrail.set_user(...)`` or a bound structlog ``user_id``,
``settings.REQTRAIL["USER_ID_GETTER"](request)``, the authenticated ``request.user`` (its
``pk``, with its username for Sentry), the user ID header.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from reqtrail.producers import shutdown
from reqtrail.producers.capture import CapturingReader
from reqtrail.producers.closing import AsyncClosingResponse, ClosingResponse
from reqtrail.producers.cycle import RequestCycle
from reqtrail.producers.django_config import install_pipeline, user_id_getter
from reqtrail.producers.guard import capture_internal_exceptions
from reqtrail.producers.headers import REQUEST_ID_HEADER, CaptureConfig
from reqtrail.producers.pipeline import RecordPipeline, resolve
from reqtrail.producers.routes import django_route
from reqtrail.producers.users import UserLike, django_user
from reqtrail.producers.wsgi import environ_keys
from reqtrail.schemas.record import UNMATCHED_ROUTE
from reqtrail.settings import SettingsError

CYCLE_ATTRIBUTE = "_reqtrail_cycle"


class RequestTrailDjangoMiddleware:
    """Ships one record per request to Kafka; never fails the request itself."""

    sync_capable = True
    async_capable = True

    def __init__(
        self, get_response: Callable[[Any], Any], pipeline: RecordPipeline | None = None
    ) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)
        try:
            if pipeline is None:
                install_pipeline()
            self.user_id_getter = user_id_getter()
        except SettingsError as exc:
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(str(exc)) from None
        self._pipeline = resolve(pipeline)
        self._keys: tuple[CaptureConfig, list[tuple[str, str]]] | None = None
        with capture_internal_exceptions():
            shutdown.install_signal_handlers()

    def __call__(self, request: Any) -> Any:
        if self.is_async:
            return self.__acall__(request)
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

    async def __acall__(self, request: Any) -> Any:
        """The same on the event loop, for an async middleware chain (ASGI)."""
        cycle: RequestCycle | None = None
        with capture_internal_exceptions():
            cycle = self._start(request)
        if cycle is None:
            return await self.get_response(request)
        try:
            response = await self.get_response(request)
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
        cycle = RequestCycle.from_headers(
            pipeline,
            request.method,
            request.path,
            meta.get("QUERY_STRING", ""),
            headers,
            meta.get("REMOTE_ADDR"),
            "reqtrail.django",
        )
        cycle.find_user = lambda: self._find_user(request)
        setattr(request, CYCLE_ATTRIBUTE, cycle)
        stream = getattr(request, "_stream", None)
        if stream is not None:
            request._stream = CapturingReader(stream, cycle.request_body)
        return cycle

    def _find_user(self, request: Any) -> UserLike:
        """The configured getter's user, else Django's authenticated ``request.user``."""
        if self.user_id_getter is not None:
            user = self.user_id_getter(request)
            if user:
                return user
        return django_user(request)

    def _respond(self, cycle: RequestCycle, request: Any, response: Any) -> None:
        cycle.status = int(response.status_code)
        if not response.has_header(REQUEST_ID_HEADER):
            response[REQUEST_ID_HEADER] = cycle.request_id
        cycle.event["_response_header_pairs"] = list(response.items())
        if not getattr(response, "streaming", False):
            cycle.response_body.feed(response.content)
            self._finish(cycle, request)
        elif getattr(response, "is_async", False):
            response.streaming_content = AsyncClosingResponse(
                response.streaming_content, cycle, lambda: self._finish(cycle, request)
            )
        else:
            response.streaming_content = ClosingResponse(
                response.streaming_content, cycle, lambda: self._finish(cycle, request)
            )

    def _finish(self, cycle: RequestCycle, request: Any) -> None:
        if not cycle.request_body.size:
            body = getattr(request, "_body", None)
            if body:
                cycle.request_body.feed(body)
        match = getattr(request, "resolver_match", None)
        route = getattr(match, "route", None)
        cycle.finish(UNMATCHED_ROUTE if match is None else django_route(route or ""))
