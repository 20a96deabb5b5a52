"""Route templates from each framework's resolver; requests that match nothing: (unmatched)."""

from __future__ import annotations

from typing import Any

import pytest

from reqtrail.producers.routes import django_route
from reqtrail.schemas.record import UNMATCHED_ROUTE
from reqtrail.settings import load_settings
from tests.producers.apps import configure_django
from tests.producers.frameworks import framework_client
from tests.producers.helpers import memory_pipeline

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.mark.parametrize(
    ("route", "template"),
    [
        (r"^api/user/?$", "/api/user"),
        (r"^api/profiles/(?P<username>[^/]+)/follow/?$", "/api/profiles/{username}/follow"),
        (r"^api/(?P<version>v1|v2)/tags/?\Z", "/api/{version}/tags"),
        (r"^a/(?:(?P<page>\d+)/)?$", "/a/{page}/"),
        ("api/articles/<slug:slug>/comments/<int:pk>/", "/api/articles/{slug}/comments/{pk}/"),
        ("api/users/(?P<pk>[0-9]+)/?$", "/api/users/{pk}"),  # path() prefix, re_path() inside
        ("", "/"),
        (r"^$", "/"),
    ],
)
def test_django_routes_lose_regex_syntax(route: str, template: str) -> None:
    """Named groups become {name}; anchors, optional slashes and converters go."""
    configure_django()
    assert django_route(route) == template


def record_routes(framework: str, paths: list[str], app: Any = None) -> list[str | None]:
    pipeline, sink = memory_pipeline(load_settings(environ={}))
    if app is None:
        with framework_client(framework, pipeline) as client:
            for path in paths:
                client.request("GET", path)
    else:
        from starlette.testclient import TestClient

        client = TestClient(app(pipeline), raise_server_exceptions=False)
        for path in paths:
            client.get(path)
    return [record["route"] for record in sink.records]


def test_django_re_path_include_and_unmatched() -> None:
    """re_path with groups, /?, anchors and nested include() give clean templates."""
    routes = record_routes(
        "django",
        [
            "/api/user",
            "/api/user/",
            "/api/profiles/bob/follow/",
            "/api/v2/tags",
            "/api/articles/how-to-farm/",
            "/api/articles/how-to-farm/comments/12",
            "/api/articles/how-to-farm/comments/",
            "/api/units/7/items/sword",
            "/api/nothing/here",
        ],
    )
    assert routes == [
        "/api/user",
        "/api/user",
        "/api/profiles/{username}/follow",
        "/api/{version}/tags",
        "/api/articles/{slug}",
        "/api/articles/{slug}/comments/{comment_id}",
        "/api/articles/{slug}/comments/",
        "/api/units/{unit_id}/items/{item}",
        UNMATCHED_ROUTE,
    ]


def flask_routes_app(pipeline: Any) -> Any:
    from flask import Blueprint, Flask

    from reqtrail.flask import RequestTrail

    app = Flask("routes")
    shop = Blueprint("shop", "routes", url_prefix="/shop/<int:shop_id>")

    @shop.get("/items/<item>")
    def item(shop_id: int, item: str) -> str:
        return "ok"

    @app.get("/units/<int:unit_id>")
    def unit(unit_id: int) -> str:
        return "ok"

    @app.get("/files/<path:rest>")
    def files(rest: str) -> str:
        return "ok"

    @app.get("/wallet/<any(gold, gems):currency>")
    def wallet(currency: str) -> str:
        return "ok"

    @app.get("/country/<string(length=2):code>")
    def country(code: str) -> str:
        return "ok"

    app.register_blueprint(shop)
    RequestTrail(app, pipeline=pipeline)
    return app


def test_flask_converters_blueprints_and_unmatched() -> None:
    """Flask converters (with arguments) and blueprint prefixes become {name}."""
    pipeline, sink = memory_pipeline(load_settings(environ={}))
    client = flask_routes_app(pipeline).test_client()
    for path in (
        "/units/7",
        "/files/a/b/c.txt",
        "/wallet/gems",
        "/country/se",
        "/shop/3/items/sword",
        "/units/not-a-number",
    ):
        client.get(path).close()
    assert [r["route"] for r in sink.records] == [
        "/units/{unit_id}",
        "/files/{rest}",
        "/wallet/{currency}",
        "/country/{code}",
        "/shop/{shop_id}/items/{item}",
        UNMATCHED_ROUTE,
    ]
    assert [r["status"] for r in sink.records][-1] == 404


def starlette_mounts_app(pipeline: Any) -> Any:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    from reqtrail.asgi import RequestTrailMiddleware

    async def ok(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def static(scope: Any, receive: Any, send: Any) -> None:
        await PlainTextResponse("file")(scope, receive, send)

    return Starlette(
        routes=[
            Route("/health", ok),
            Route("/units/{unit_id:int}", ok, methods=["POST"]),
            Mount(
                "/api/{version}",
                routes=[
                    Route("/units/{unit_id:int}", ok),
                    Mount("/guilds/{guild_id}", routes=[Route("/members/{member_id}", ok)]),
                ],
            ),
            Mount("/static", app=static),
        ],
        middleware=[Middleware(RequestTrailMiddleware, pipeline=pipeline)],
    )


def test_starlette_mounts_join_their_templates() -> None:
    """Mounted routes carry every mount's template; a 405 its route; no match (unmatched)."""
    routes = record_routes(
        "starlette",
        [
            "/health",
            "/api/v2/units/7",
            "/api/v2/guilds/g-1/members/m-9",
            "/static/css/site.css",
            "/units/7",  # GET on a POST route: 405
            "/nowhere",
        ],
        app=starlette_mounts_app,
    )
    assert routes == [
        "/health",
        "/api/{version}/units/{unit_id}",
        "/api/{version}/guilds/{guild_id}/members/{member_id}",
        "/static/{path}",
        "/units/{unit_id}",
        UNMATCHED_ROUTE,
    ]
