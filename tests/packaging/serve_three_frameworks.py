"""Run inside a fresh venv holding the reqtrail wheel (no extras) and the three frameworks.

Serves one request through each middleware, in process, with the records going to the Kafka
topic named by REQTRAIL_TOPIC, then prints one JSON line: the request IDs served, the sink's
counters, and which heavy modules ``sys.modules`` holds. Run from a user project whose own
``reqtrail.schemas.py``, ``reqtrail.consumers.py`` and ``dashboards/`` come first on ``sys.path``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

HEAVY = ("elasticsearch", "streamlit", "pandas", "pyarrow", "altair", "jsonschema_rs", "msgspec")


def serve_starlette() -> str:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from reqtrail.asgi import RequestTrailMiddleware

    async def hello(request: Any) -> JSONResponse:
        return JSONResponse({"framework": "starlette"})

    app = Starlette(
        routes=[Route("/hello", hello)], middleware=[Middleware(RequestTrailMiddleware)]
    )
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/hello",
        "raw_path": b"/hello",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"game"), (b"x-request-id", b"pkg-starlette-1")],
        "client": ("127.0.0.1", 5000),
        "server": ("game", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 200, sent
    return "pkg-starlette-1"


def serve_flask() -> str:
    from flask import Flask

    from reqtrail.flask import RequestTrail

    app = Flask("game")

    @app.get("/hello")
    def hello() -> dict[str, str]:
        return {"framework": "flask"}

    RequestTrail(app)
    answer = app.test_client().get("/hello", headers={"x-request-id": "pkg-flask-1"})
    answer.close()  # as a WSGI server does; the record goes out when the response is closed
    assert answer.status_code == 200, answer.status_code
    return "pkg-flask-1"


def serve_django() -> str:
    import django
    from django.conf import settings
    from django.http import JsonResponse
    from django.urls import path

    def hello(request: Any) -> JsonResponse:
        return JsonResponse({"framework": "django"})

    settings.configure(
        DEBUG=False,
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["reqtrail.django.middleware.RequestTrailMiddleware"],
        INSTALLED_APPS=[],
    )
    globals()["urlpatterns"] = [path("hello", hello)]
    django.setup()
    from django.test import Client

    answer = Client().get("/hello", headers={"x-request-id": "pkg-django-1"})
    assert answer.status_code == 200, answer.status_code
    return "pkg-django-1"


def main() -> None:
    served = [serve_starlette(), serve_flask(), serve_django()]
    from reqtrail.producers import get_pipeline

    sink = get_pipeline().sink
    sink.flush(timeout=30.0)
    stats = sink.stats()
    print(
        json.dumps(
            {
                "served": served,
                "produced": stats.produced,
                "delivered": stats.delivered,
                "heavy_loaded": [name for name in HEAVY if name in sys.modules],
            }
        )
    )


if __name__ == "__main__":
    main()
