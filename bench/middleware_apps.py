"""The game endpoint the middleware benchmarks call, in Starlette, Flask and Django.

Every framework serves the same ``POST /units/{unit_id}/upgrade``: it reads a JSON body
and answers JSON.  The apps are called in-process, without network: an ASGI app with a
prepared scope (driven without an event loop: nothing in it suspends), a WSGI app (Flask,
or Django's ``WSGIHandler``) with a prepared environ.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Coroutine
from typing import Any

REQUEST_BODY = (
    b'{"unit_id": "u-1042", "materials": [{"item": "gem", "count": 12}, '
    b'{"item": "scroll", "count": 3}], "use_boost": true, "client_ts": 1732500000123}'
)
RESPONSE = {
    "unit": {"id": "u-1042", "level": 31, "exp": 10233, "skills": [1, 4, 9], "rarity": "SSR"},
    "inventory": {"gem": 88, "scroll": 14, "gold": 123456},
    "events": [{"type": "level_up", "from": 30, "to": 31}],
}
HEADERS = [
    (b"host", b"game.local"),
    (b"user-agent", b"GameClient/3.2.1 (iPhone14,2; iOS 17.4)"),
    (b"content-type", b"application/json"),
    (b"accept", b"application/json"),
    (b"x-user-id", b"player-00042"),
    (b"x-device-id", b"dev-9f2c"),
    (b"x-session-id", b"sess-77"),
    (b"x-platform", b"ios"),
    (b"x-client-version", b"3.2.1"),
    (b"authorization", b"Bearer abc.def.ghi"),
    (b"content-length", str(len(REQUEST_BODY)).encode()),
]
PATH = "/units/u-1042/upgrade"

Call = Callable[[], None]


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def upgrade(request: Request) -> JSONResponse:
        payload = await request.json()
        return JSONResponse({**RESPONSE, "requested": payload["unit_id"]})

    return Starlette(routes=[Route("/units/{unit_id}/upgrade", upgrade, methods=["POST"])])


def flask_app() -> Any:
    from flask import Flask, jsonify, request

    app = Flask("bench")

    @app.post("/units/<unit_id>/upgrade")
    def upgrade(unit_id: str) -> Any:
        payload = request.get_json()
        return jsonify({**RESPONSE, "requested": payload["unit_id"]})

    return app


def _django_upgrade(request: Any, unit_id: str) -> Any:
    import json

    from django.http import JsonResponse

    payload = json.loads(request.body)
    return JsonResponse({**RESPONSE, "requested": payload["unit_id"]})


def configure_django() -> None:
    """Django for this process: one URL, no middleware (each contender adds its own)."""
    import django
    from django.conf import settings
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    if settings.configured:
        return
    urlconf = type(sys)("bench_django_urls")
    urlconf.urlpatterns = [path("units/<str:unit_id>/upgrade", csrf_exempt(_django_upgrade))]  # type: ignore[attr-defined]
    sys.modules["bench_django_urls"] = urlconf
    settings.configure(
        DEBUG=False,
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF="bench_django_urls",
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        SECRET_KEY="reqtrail-bench",
        USE_TZ=True,
        LOGGING_CONFIG=None,
    )
    django.setup()


def django_app(middleware: list[str]) -> Any:
    """A Django ``WSGIHandler`` whose middleware chain is ``middleware`` (loaded now)."""
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler

    configure_django()
    settings.MIDDLEWARE = list(middleware)
    return WSGIHandler()


def asgi_call(app: Any) -> Call:
    """One request through an ASGI app, run to completion without an event loop."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": REQUEST_BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    def coroutine() -> Coroutine[Any, Any, None]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": PATH,
            "raw_path": PATH.encode(),
            "root_path": "",
            "query_string": b"lang=en",
            "headers": list(HEADERS),
            "client": ("10.0.0.7", 51000),
            "server": ("10.0.0.1", 8000),
        }
        return app(scope, receive, send)  # type: ignore[no-any-return]

    def call() -> None:
        coro = coroutine()
        try:
            coro.send(None)
        except StopIteration:
            return
        coro.close()
        raise RuntimeError("the ASGI app suspended; it cannot be driven without a loop")

    return call


def wsgi_environ() -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": PATH,
        "QUERY_STRING": "lang=en",
        "SERVER_NAME": "game.local",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.7",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(REQUEST_BODY)),
    }
    for name, value in HEADERS:
        key = "HTTP_" + name.decode().upper().replace("-", "_")
        if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
            environ[key] = value.decode()
    return environ


def wsgi_call(app: Any) -> Call:
    """One request through a WSGI app, its response iterated and closed as a server would."""

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        return lambda data: None

    base = wsgi_environ()

    def call() -> None:
        environ = dict(base)
        environ["wsgi.input"] = io.BytesIO(REQUEST_BODY)
        body = app(environ, start_response)
        try:
            for _chunk in body:
                pass
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()

    return call
