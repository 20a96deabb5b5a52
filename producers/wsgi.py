"""WSGI middleware (any WSGI app); Flask apps use ``reqtrail.flask.RequestTrail``.

``wsgi.input`` is replaced by a reader that keeps the first ``body_max_bytes`` the app reads;
``start_response`` is wrapped to read the status and headers and add ``X-Request-ID``; the
response iterable is wrapped so its chunks are counted (and the head kept) as the server
sends them, and the record is emitted when the server closes it.  Nothing is buffered whole.

Other WSGI apps may set ``environ["reqtrail.route"]`` (the route template) and
``environ["reqtrail.user_id"]`` (the user: an ID or a ``{"id", "username", "email"}`` dict)
themselves, or pass ``user_id_getter(environ)``; the user precedence is in
``reqtrail.producers.users``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from reqtrail.producers import shutdown
from reqtrail.producers.capture import CapturingReader
from reqtrail.producers.closing import ClosingResponse
from reqtrail.producers.cycle import RequestCycle
from reqtrail.producers.guard import capture_internal_exceptions
from reqtrail.producers.headers import REQUEST_ID_HEADER, CaptureConfig
from reqtrail.producers.pipeline import RecordPipeline, resolve
from reqtrail.producers.routes import route_template
from reqtrail.producers.users import UserLike

Environ = dict[str, Any]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
EnvironUserIdGetter = Callable[[Environ], UserLike]

CYCLE_KEY = "reqtrail.cycle"
ROUTE_KEY = "reqtrail.route"
USER_ID_KEY = "reqtrail.user_id"


def environ_keys(capture: CaptureConfig) -> list[tuple[str, str]]:
    """(header name, WSGI environ key) for every header the cycle wants."""
    pairs = []
    for name in sorted(capture.wanted_headers):
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        pairs.append((name, key))
    return pairs


class RequestTrailWSGIMiddleware:
    """Ships one record per request to Kafka; never fails the request itself."""

    def __init__(
        self,
        app: WSGIApp,
        pipeline: RecordPipeline | None = None,
        user_id_getter: EnvironUserIdGetter | None = None,
        mechanism: str = "reqtrail.wsgi",
    ) -> None:
        self.app = app
        self._pipeline = resolve(pipeline)
        self.user_id_getter = user_id_getter
        self.mechanism = mechanism
        self._keys: tuple[CaptureConfig, list[tuple[str, str]]] | None = None
        with capture_internal_exceptions():
            shutdown.install_signal_handlers()

    @property
    def pipeline(self) -> RecordPipeline:
        """The pipeline this middleware sends to (e.g. to flush it at shutdown)."""
        return self._pipeline()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        cycle: RequestCycle | None = None
        with capture_internal_exceptions():
            cycle = self._start(environ)
        if cycle is None:
            return self.app(environ, start_response)
        started = cycle

        def start_response_capturing(
            status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
        ) -> Callable[[bytes], object]:
            with capture_internal_exceptions():
                headers = _start_response(started, status, headers)
            write = start_response(status, headers, exc_info)

            def write_capturing(data: bytes) -> object:
                started.response_body.feed(data)
                return write(data)

            return write_capturing

        try:
            body = self.app(environ, start_response_capturing)
        except Exception as exc:
            with capture_internal_exceptions():
                cycle.fail(exc)
                self._finish(cycle, environ)
            raise
        finally:
            with capture_internal_exceptions():
                cycle.sentry.exit()
        return ClosingResponse(body, cycle, lambda: self._finish(started, environ))

    def _start(self, environ: Environ) -> RequestCycle:
        pipeline = self._pipeline()
        if self._keys is None or self._keys[0] is not pipeline.capture:
            self._keys = (pipeline.capture, environ_keys(pipeline.capture))
        headers = {}
        for name, key in self._keys[1]:
            value = environ.get(key)
            if value is not None:
                headers[name] = value
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        cycle = RequestCycle.from_headers(
            pipeline,
            environ.get("REQUEST_METHOD", "GET"),
            path,
            environ.get("QUERY_STRING", ""),
            headers,
            environ.get("REMOTE_ADDR"),
            self.mechanism,
        )
        cycle.find_user = lambda: self._find_user(environ)
        environ[CYCLE_KEY] = cycle
        stream = environ.get("wsgi.input")
        if stream is not None:
            environ["wsgi.input"] = CapturingReader(stream, cycle.request_body)
        return cycle

    def _find_user(self, environ: Environ) -> UserLike:
        if self.user_id_getter is not None:
            user = self.user_id_getter(environ)
            if user:
                return user
        found: UserLike = environ.get(USER_ID_KEY)
        return found

    def _finish(self, cycle: RequestCycle, environ: Environ) -> None:
        cycle.finish(route_template(environ.get(ROUTE_KEY)))


def _start_response(
    cycle: RequestCycle, status: str, headers: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Note the status, add ``X-Request-ID`` unless the app sent one, and hand the headers
    as sent over to the record (``reqtrail.producers.headers`` picks them)."""
    cycle.status = int(status.split(" ", 1)[0])
    for name, _value in headers:
        if name.lower() == REQUEST_ID_HEADER:
            headers = list(headers)  # the app's list: a copy, in case it changes it later
            break
    else:
        headers = [*headers, ("X-Request-ID", cycle.request_id)]
    cycle.event["_response_header_pairs"] = headers
    return headers
