"""Pure ASGI middleware (Starlette, FastAPI, any ASGI app).

Per-request state lives inside ``__call__``; ``receive`` is wrapped to see the request body
as the app reads it, ``send`` to read the status and headers, add ``X-Request-ID`` and see
the response body as it goes out.  Nothing is buffered beyond ``body_max_bytes``.  The route
template comes from the Starlette router (``scope["route"]``, which the router writes into
the shared scope dict; mounts included, see ``reqtrail.producers.routes``).  On
``lifespan.shutdown`` the pipeline is drained: a bounded flush, then what Kafka did not take
is spilled and one summary line logged (``reqtrail.producers.shutdown``).

    app.add_middleware(RequestTrailMiddleware, user_id_getter=..., skip_paths=["/health"])

``user_id_getter(scope)`` returns the user ID (or a ``{"id", "username", "email"}`` dict, or
None for the next source); the precedence is in ``reqtrail.producers.users``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from functools import partial
from typing import Any

from reqtrail.producers import shutdown
from reqtrail.producers.cycle import RequestCycle
from reqtrail.producers.guard import capture_internal_exceptions, report_internal_error
from reqtrail.producers.headers import REQUEST_ID_HEADER
from reqtrail.producers.pipeline import RecordPipeline, resolve
from reqtrail.producers.routes import starlette_route
from reqtrail.producers.users import UserLike, starlette_user

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
UserIdGetter = Callable[[Scope], UserLike]

_REQUEST_ID_BYTES = REQUEST_ID_HEADER.encode("latin-1")
_REQUEST_ID_LEN = len(_REQUEST_ID_BYTES)


class RequestTrailMiddleware:
    """Ships one record per HTTP request to Kafka; never fails the request itself."""

    def __init__(
        self,
        app: ASGIApp,
        pipeline: RecordPipeline | None = None,
        user_id_getter: UserIdGetter | None = None,
        skip_paths: Iterable[str] = (),
    ) -> None:
        self.app = app
        self._pipeline = resolve(pipeline)
        self._fixed_pipeline = pipeline
        self.user_id_getter = user_id_getter
        self.skip_paths = frozenset(skip_paths)  # e.g. load-balancer health checks
        with capture_internal_exceptions():
            shutdown.install_signal_handlers()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.skip_paths:
            if scope["type"] == "lifespan":
                receive = self._watch_lifespan(receive)
            await self.app(scope, receive, send)
            return

        cycle: RequestCycle | None = None
        root_path = scope.get("root_path", "")
        router_before = "router" in scope
        try:  # capture_internal_exceptions(), inline: this runs on every request
            cycle = self._start(scope, root_path)
        except Exception as exc:
            report_internal_error(exc)
        if cycle is None:
            await self.app(scope, receive, send)
            return

        request_body = cycle.request_body
        response_body = cycle.response_body
        request_id = cycle.request_id.encode("latin-1")

        async def receive_capturing() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                request_body.feed(message.get("body", b""))
            return message

        def send_capturing(message: Message) -> Awaitable[None]:
            # Not a coroutine of its own: the app awaits what ``send`` returns.
            kind = message["type"]
            if kind == "http.response.body":
                response_body.feed(message.get("body", b""))
            elif kind == "http.response.start":
                try:
                    message = _start_response(cycle, message, request_id)
                except Exception as exc:
                    report_internal_error(exc)
            return send(message)

        try:
            await self.app(scope, receive_capturing, send_capturing)
        except Exception as exc:
            with capture_internal_exceptions():
                cycle.fail(exc)
            raise
        finally:
            try:
                route = scope.get("route")
                template = None
                if route is not None and (router_before or scope.get("root_path") == root_path):
                    template = getattr(route, "path_format", None)  # no Mount: the usual case
                if type(template) is not str:
                    template = starlette_route(scope, root_path, router_before)
                cycle.finish(template)
            except Exception as exc:
                report_internal_error(exc)

    def _start(self, scope: Scope, root_path: str) -> RequestCycle:
        pipeline = self._fixed_pipeline or self._pipeline()
        # ASGI header names are lower-case bytes.  A copy: the sender thread reads it later.
        # One pass for the four IDs (the last of repeated ones wins): a third fewer
        # instructions than dict() and four lookups.
        raw = list(scope["headers"])
        ids: list[bytes | None] = [None, None, None, None]
        position = pipeline.capture.raw_id_headers.get
        for name, value in raw:
            i = position(name)
            if i is not None:
                ids[i] = value
        incoming, user_id, device_id, session_id = ids
        client = scope.get("client")
        cycle = RequestCycle(
            pipeline,
            scope["method"],
            root_path + scope["path"],
            scope.get("query_string", b"").decode("latin-1"),
            client[0] if client else None,
            None if incoming is None else incoming.decode("latin-1"),
            user_id.decode("latin-1") if user_id else None,
            device_id.decode("latin-1") if device_id else None,
            session_id.decode("latin-1") if session_id else None,
            "reqtrail.asgi",  # positional: a keyword costs a dict per call
        )
        cycle.event["_raw_headers"] = raw
        cycle.find_user = partial(self._find_user, scope)
        return cycle

    def _find_user(self, scope: Scope) -> UserLike:
        """The getter's user, else the one Starlette's AuthenticationMiddleware found."""
        if self.user_id_getter is not None:
            user = self.user_id_getter(scope)
            if user:
                return user
        return starlette_user(scope["user"]) if "user" in scope else None

    def _watch_lifespan(self, receive: Receive) -> Receive:
        async def receive_watching() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                with capture_internal_exceptions():
                    shutdown.stop_pipeline(self._pipeline(), "ASGI lifespan shutdown")
            return message

        return receive_watching


def _start_response(cycle: RequestCycle, message: Message, request_id: bytes) -> Message:
    """Note the status, add ``X-Request-ID`` unless the app sent one, and hand the headers
    as sent over to the record (``reqtrail.producers.headers`` picks them)."""
    status = message["status"]
    cycle.status = status if type(status) is int else int(status)
    raw_headers = message.get("headers", ())
    for name, _value in raw_headers:
        if len(name) == _REQUEST_ID_LEN and name.lower() == _REQUEST_ID_BYTES:
            sent = list(raw_headers)
            break
    else:
        sent = [*raw_headers, (_REQUEST_ID_BYTES, request_id)]
        message = {**message, "headers": sent}
    cycle.event["_raw_response_headers"] = sent
    return message
