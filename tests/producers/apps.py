"""The same small game API in Starlette, Flask and Django, for the middleware tests.

Endpoints: ``POST /units/{unit_id}/upgrade`` (JSON in/out), ``POST /login`` (password in the
body, token in the answer), ``GET /inventory`` (a 4 KB answer, to be truncated),
``GET /stream`` (a streamed answer), ``POST /upload`` (read in chunks) and ``GET /crash``.
Django also serves ``tests.producers.django_urls`` under ``/api/`` (DRF, re_path routes).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

INVENTORY = {"items": [{"id": f"item-{i:04d}", "count": i, "rarity": "R"} for i in range(80)]}
STREAM_CHUNK = b"x" * 1024
STREAM_CHUNKS = 64


class CrashInView(RuntimeError):
    """The deliberate crash of /crash."""


def upgrade_result(unit_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"unit_id": unit_id, "level": 2 + int(payload.get("gold", 0)) // 100}


def login_result(payload: dict[str, Any]) -> dict[str, Any]:
    return {"player": payload.get("user"), "token": "tok-secret-123", "ok": True}


def stream_chunks() -> Iterator[bytes]:
    for _ in range(STREAM_CHUNKS):
        yield STREAM_CHUNK


# --- Starlette ----------------------------------------------------------------------------
def starlette_app(**middleware_options: Any) -> Any:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    from reqtrail.producers.asgi import RequestTrailMiddleware

    async def upgrade(request: Request) -> JSONResponse:
        return JSONResponse(upgrade_result(request.path_params["unit_id"], await request.json()))

    async def login(request: Request) -> JSONResponse:
        return JSONResponse(login_result(await request.json()))

    async def inventory(request: Request) -> JSONResponse:
        return JSONResponse(INVENTORY)

    async def stream(request: Request) -> StreamingResponse:
        return StreamingResponse(stream_chunks(), media_type="application/octet-stream")

    async def upload(request: Request) -> JSONResponse:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return JSONResponse({"received": size})

    async def crash(request: Request) -> JSONResponse:
        raise CrashInView("boom in view")

    routes = [
        Route("/units/{unit_id}/upgrade", upgrade, methods=["POST"]),
        Route("/login", login, methods=["POST"]),
        Route("/inventory", inventory),
        Route("/stream", stream),
        Route("/upload", upload, methods=["POST"]),
        Route("/crash", crash),
    ]
    return Starlette(
        routes=routes, middleware=[Middleware(RequestTrailMiddleware, **middleware_options)]
    )


# --- Flask --------------------------------------------------------------------------------
def flask_app(**install_options: Any) -> Any:
    from flask import Flask, Response, jsonify, request

    from reqtrail.flask import RequestTrail

    app = Flask("reqtrail-test")

    @app.post("/units/<unit_id>/upgrade")
    def upgrade(unit_id: str) -> Any:
        return jsonify(upgrade_result(unit_id, request.get_json()))

    @app.post("/login")
    def login() -> Any:
        return jsonify(login_result(request.get_json()))

    @app.get("/inventory")
    def inventory() -> Any:
        return jsonify(INVENTORY)

    @app.get("/stream")
    def stream() -> Any:
        return Response(stream_chunks(), mimetype="application/octet-stream")

    @app.post("/upload")
    def upload() -> Any:
        size = 0
        while chunk := request.stream.read(4096):
            size += len(chunk)
        return jsonify({"received": size})

    @app.get("/crash")
    def crash() -> Any:
        raise CrashInView("boom in view")

    RequestTrail(app, **install_options)
    return app


# --- Django (urls module: ROOT_URLCONF = "tests.producers.apps") --------------------------
def _django_urlpatterns() -> list[Any]:
    import json

    from django.http import JsonResponse, StreamingHttpResponse
    from django.urls import include, path
    from django.views.decorators.csrf import csrf_exempt

    @csrf_exempt
    def upgrade(request: Any, unit_id: str) -> JsonResponse:
        return JsonResponse(upgrade_result(unit_id, json.loads(request.body)))

    @csrf_exempt
    def login(request: Any) -> JsonResponse:
        return JsonResponse(login_result(json.loads(request.body)))

    def inventory(request: Any) -> JsonResponse:
        return JsonResponse(INVENTORY)

    def stream(request: Any) -> StreamingHttpResponse:
        return StreamingHttpResponse(stream_chunks(), content_type="application/octet-stream")

    @csrf_exempt
    def upload(request: Any) -> JsonResponse:
        size = 0
        while chunk := request.read(4096):
            size += len(chunk)
        return JsonResponse({"received": size})

    def crash(request: Any) -> JsonResponse:
        raise CrashInView("boom in view")

    return [
        path("units/<str:unit_id>/upgrade", upgrade),
        path("login", login),
        path("inventory", inventory),
        path("stream", stream),
        path("upload", upload),
        path("crash", crash),
        path("api/", include("tests.producers.django_urls")),
    ]


def configure_django() -> None:
    """Configure Django once for this process (the middleware first, as documented)."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            ALLOWED_HOSTS=["*"],
            ROOT_URLCONF="tests.producers.apps",
            MIDDLEWARE=["reqtrail.django.middleware.RequestTrailMiddleware"],
            # Not "reqtrail.django": each test installs its own pipeline (set_pipeline).
            INSTALLED_APPS=[
                "django.contrib.auth",
                "django.contrib.contenttypes",
                "rest_framework",
                "rest_framework.authtoken",
            ],
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
            SECRET_KEY="reqtrail-tests",
            USE_TZ=True,
            LOGGING_CONFIG=None,
        )
        django.setup()


def __getattr__(name: str) -> Any:
    # Django imports ROOT_URLCONF and reads ``urlpatterns``; build them lazily so importing
    # this module does not need Django configured.
    if name == "urlpatterns":
        return _django_urlpatterns()
    raise AttributeError(name)
