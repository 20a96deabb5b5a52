"""``GET /whoami`` in Starlette, Flask and Django, with every source of the user at once.

* the header ``x-user-id``;
* the framework's authenticated user, from ``authorization: Token <name>`` (Starlette's
  ``AuthenticationMiddleware``, Flask-Login's ``request_loader``, DRF's token auth);
* the configured getter, answering from ``x-session-user`` (None without it);
* the app's own choice: ``?bind=<id>`` binds structlog's ``user_id``, ``?set_user=<id>`` calls
  ``reqtrail.set_user``; ``?crash=1`` raises afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from structlog.contextvars import bind_contextvars

import reqtrail
from reqtrail.producers.pipeline import RecordPipeline, set_pipeline

Call = Callable[[dict[str, str], str], int]  # (headers, query string) -> status
SESSION_HEADER = "x-session-user"


class WhoAmICrash(RuntimeError):
    """The deliberate crash of ``?crash=1``."""


def act_on(query: dict[str, str]) -> None:
    """What the view does with its query: bind, set_user, crash."""
    if "bind" in query:
        bind_contextvars(user_id=query["bind"])
    if "set_user" in query:
        reqtrail.set_user(query["set_user"], username="set-by-app")
    if "crash" in query:
        raise WhoAmICrash("whoami crashed")


def starlette_whoami(pipeline: RecordPipeline, *, sync_view: bool = False) -> Call:
    from starlette.applications import Starlette
    from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
    from starlette.middleware import Middleware
    from starlette.middleware.authentication import AuthenticationMiddleware
    from starlette.requests import HTTPConnection, Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from reqtrail.asgi import RequestTrailMiddleware

    class TokenBackend(AuthenticationBackend):
        async def authenticate(
            self, conn: HTTPConnection
        ) -> tuple[AuthCredentials, SimpleUser] | None:
            scheme, _, name = conn.headers.get("authorization", "").partition(" ")
            if scheme != "Token" or not name:
                return None
            return AuthCredentials(["player"]), SimpleUser(f"auth-{name}")

    async def whoami(request: Request) -> JSONResponse:
        act_on(dict(request.query_params))
        return JSONResponse({"ok": True})

    def whoami_sync(request: Request) -> JSONResponse:  # Starlette runs it in a thread
        act_on(dict(request.query_params))
        return JSONResponse({"ok": True})

    def getter(scope: Any) -> str | None:
        headers = dict(scope["headers"])
        value = headers.get(SESSION_HEADER.encode())
        return value.decode() if value else None

    app = Starlette(
        routes=[Route("/whoami", whoami_sync if sync_view else whoami)],
        middleware=[
            Middleware(RequestTrailMiddleware, pipeline=pipeline, user_id_getter=getter),
            Middleware(AuthenticationMiddleware, backend=TokenBackend()),
        ],
    )
    client = TestClient(app, raise_server_exceptions=False)
    return lambda headers, query: client.get(f"/whoami?{query}", headers=headers).status_code


def flask_whoami(pipeline: RecordPipeline) -> Call:
    from flask import Flask, jsonify, request
    from flask_login import LoginManager, UserMixin

    from reqtrail.flask import RequestTrail

    class Player(UserMixin):  # type: ignore[misc]
        def __init__(self, name: str) -> None:
            self.id = f"auth-{name}"
            self.username = name

    app = Flask("whoami")
    login = LoginManager(app)

    @login.request_loader  # type: ignore[untyped-decorator]
    def from_token(req: Any) -> Player | None:
        scheme, _, name = req.headers.get("authorization", "").partition(" ")
        return Player(name) if scheme == "Token" and name else None

    @app.get("/whoami")
    def whoami() -> Any:
        act_on(request.args.to_dict())
        return jsonify({"ok": True})

    RequestTrail(app, pipeline=pipeline, user_id_getter=lambda: request.headers.get(SESSION_HEADER))
    client = app.test_client()

    def call(headers: dict[str, str], query: str) -> int:
        response = client.get(f"/whoami?{query}", headers=headers)
        response.close()
        return response.status_code

    return call


def session_user(request: Any) -> str | None:
    """The Django getter of these tests: ``x-session-user`` or None."""
    value: str | None = request.META.get("HTTP_X_SESSION_USER")
    return value


@contextmanager
def django_whoami(pipeline: RecordPipeline) -> Iterator[Call]:
    from django.test import Client
    from django.test.utils import override_settings

    previous = set_pipeline(pipeline)
    getter = {"USER_ID_GETTER": "tests.producers.whoami_apps.session_user"}
    try:
        with override_settings(REQTRAIL=getter):
            client = Client(raise_request_exception=False)

            def call(headers: dict[str, str], query: str) -> int:
                response = client.get(f"/api/drf/whoami?{query}", headers=headers)
                response.close()
                return response.status_code

            yield call
    finally:
        set_pipeline(previous)
