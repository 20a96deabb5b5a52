"""WSGI middleware (any WSGI app) and its Flask installer.

``wsgi.input`` is replaced by a reader that keeps the first ``body_max_bytes`` the app reads;
``start_response`` is wrapped to read the status and headers and add ``X-Request-ID``; the
response iterable is wrapped so its chunks are counted (and the head kept) as the server
sends them, and the record is emitted when the server closes it.  Nothing is buffered whole.

Flask: ``install_flask(app)`` wraps ``app.wsgi_app`` and adds hooks that hand over the route
template (``request.url_rule``), the exception (``got_request_exception``) and the user.
Other WSGI apps may set ``environ["reqtrail.route"]`` themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any

from producers import shutdown
from producers.capture import CapturingReader
from producers.cycle import RequestCycle, pick_headers, route_template
from producers.guard import capture_internal_exceptions
from producers.pipeline import REQUEST_ID_HEADER, CaptureConfig, RecordPipeline, resolve

Environ = dict[str, Any]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
EnvironUserIdGetter = Callable[[Environ], "str | None"]

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
    ) -> None:
        self.app = app
        self._pipeline = resolve(pipeline)
        self.user_id_getter = user_id_getter
        self._keys: tuple[CaptureConfig, list[tuple[str, str]]] | None = None
        with capture_internal_exceptions():
            shutdown.install_signal_handlers()

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
        cycle = RequestCycle(
            pipeline,
            environ.get("REQUEST_METHOD", "GET"),
            path,
            environ.get("QUERY_STRING", ""),
            headers,
            environ.get("REMOTE_ADDR"),
        )
        environ[CYCLE_KEY] = cycle
        stream = environ.get("wsgi.input")
        if stream is not None:
            environ["wsgi.input"] = CapturingReader(stream, cycle.request_body)
        return cycle

    def _finish(self, cycle: RequestCycle, environ: Environ) -> None:
        if self.user_id_getter is not None:
            cycle.set_user(self.user_id_getter(environ))
        else:
            cycle.set_user(environ.get(USER_ID_KEY))
        cycle.finish(route_template(environ.get(ROUTE_KEY)))


def _start_response(
    cycle: RequestCycle, status: str, headers: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    cycle.status = int(status.split(" ", 1)[0])
    allow = cycle.pipeline.capture.header_allowlist
    picked = pick_headers(headers, allow)
    if REQUEST_ID_HEADER not in picked and (
        REQUEST_ID_HEADER in allow  # allow-listed, so not in picked means not sent
        or not any(name.lower() == REQUEST_ID_HEADER for name, _ in headers)
    ):
        headers = [*headers, ("X-Request-ID", cycle.request_id)]
        if REQUEST_ID_HEADER in allow:
            picked[REQUEST_ID_HEADER] = cycle.request_id
    cycle.set_response_headers(picked)
    return headers


class ClosingResponse:
    """The app's response iterable, counted as it is sent; the record goes out on close()."""

    def __init__(
        self, body: Iterable[bytes], cycle: RequestCycle, on_close: Callable[[], None]
    ) -> None:
        self._body = body
        self._cycle = cycle
        self._on_close: Callable[[], None] | None = on_close

    def __iter__(self) -> Iterator[bytes]:
        capture = self._cycle.response_body
        try:
            for chunk in self._body:
                capture.feed(chunk)
                yield chunk
        except Exception as exc:
            with capture_internal_exceptions():
                self._cycle.fail(exc)
            raise

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            on_close, self._on_close = self._on_close, None
            if on_close is not None:
                with capture_internal_exceptions():
                    on_close()


def install_flask(
    app: Any,
    pipeline: RecordPipeline | None = None,
    user_id_getter: Callable[[], str | None] | None = None,
) -> RequestTrailWSGIMiddleware:
    """Wrap a Flask app: route template from ``url_rule``, exceptions, user ID.

    The user ID is, in order: ``user_id_getter()`` (called inside the request context),
    Flask-Login's ``current_user`` when authenticated, the user ID header.
    """
    from flask import got_request_exception, request

    def remember_route_and_user(_exc: BaseException | None = None) -> None:
        with capture_internal_exceptions():
            current = request._get_current_object()  # type: ignore[attr-defined]  # one proxy lookup
            environ = current.environ
            if CYCLE_KEY not in environ:
                return
            rule = current.url_rule
            if rule is not None:
                environ[ROUTE_KEY] = rule.rule
            if user_id_getter is not None:
                user_id = user_id_getter()
            elif hasattr(app, "login_manager"):  # Flask-Login is set up on this app
                user_id = _flask_login_user()
            else:
                return
            if user_id:
                environ[USER_ID_KEY] = str(user_id)

    def remember_exception(_sender: Any, exception: BaseException, **_: Any) -> None:
        with capture_internal_exceptions():
            cycle = request.environ.get(CYCLE_KEY)
            if cycle is not None:
                cycle.fail(exception)

    app.teardown_request(remember_route_and_user)
    got_request_exception.connect(remember_exception, app, weak=False)
    middleware = RequestTrailWSGIMiddleware(app.wsgi_app, pipeline)
    app.wsgi_app = middleware
    return middleware


def _flask_login_user() -> str | None:
    try:
        from flask_login import current_user
    except ImportError:
        return None
    if getattr(current_user, "is_authenticated", False):
        user_id = current_user.get_id()
        return str(user_id) if user_id else None
    return None
