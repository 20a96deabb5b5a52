"""The three middlewares' behaviour, with an in-memory sink (no Kafka)."""

from __future__ import annotations

import asyncio
import hashlib
import io
from typing import Any

import pytest
from structlog.contextvars import bind_contextvars

from reqtrail.producers.asgi import RequestTrailMiddleware
from reqtrail.producers.wsgi import RequestTrailWSGIMiddleware
from reqtrail.schemas import record_errors
from reqtrail.settings import Settings, load_settings
from tests.producers.apps import STREAM_CHUNK, STREAM_CHUNKS
from tests.producers.frameworks import FRAMEWORKS, framework_client
from tests.producers.helpers import memory_pipeline


def small_settings(**changes: Any) -> Settings:
    return load_settings(environ={}).replace(body_max_bytes=256, **changes)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_request_id_is_echoed_or_generated(framework: str) -> None:
    """A client's X-Request-ID comes back and names the record; without one, one is made."""
    pipeline, sink = memory_pipeline(small_settings())
    with framework_client(framework, pipeline) as client:
        given = client.request("GET", "/inventory", headers={"x-request-id": "req-abc"})
        made = client.request("GET", "/inventory")
    assert given.headers["x-request-id"] == "req-abc"
    assert len(made.headers["x-request-id"]) == 26
    assert [r["request_id"] for r in sink.records] == ["req-abc", made.headers["x-request-id"]]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_large_upload_is_counted_not_kept(framework: str) -> None:
    """A 1 MB upload read in chunks reaches the app whole; the record keeps 256 bytes."""
    pipeline, sink = memory_pipeline(small_settings())
    upload = bytes(range(256)) * 4096
    with framework_client(framework, pipeline) as client:
        answer = client.request("POST", "/upload", body=upload, headers={"x-user-id": "p1"})
    assert answer.status == 200 and b"1048576" in answer.body
    (record,) = sink.records
    assert record["request_body_size"] == len(upload)
    assert record["request_body_truncated"] is True
    assert record_errors(record) is None


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_streamed_response_is_counted_as_sent(framework: str) -> None:
    """A streamed answer reaches the client whole; the record has its size and the head."""
    pipeline, sink = memory_pipeline(small_settings())
    with framework_client(framework, pipeline) as client:
        answer = client.request("GET", "/stream")
    assert len(answer.body) == STREAM_CHUNKS * len(STREAM_CHUNK)
    (record,) = sink.records
    assert record["response_body_size"] == len(answer.body)
    assert record["response_body"] == "x" * 256 and record["response_body_truncated"] is True


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_crash_gives_500_and_a_record_with_the_error(framework: str) -> None:
    """A view that raises: the client gets 500, the record carries the exception."""
    pipeline, sink = memory_pipeline(small_settings())
    with framework_client(framework, pipeline) as client:
        answer = client.request("GET", "/crash", headers={"x-user-id": "player-9"})
    assert answer.status == 500
    (record,) = sink.records
    assert record["status"] == 500 and record["user_id"] == "player-9"
    assert record["error"]["type"].endswith("CrashInView")
    assert record["error"]["message"] == "boom in view"
    assert "raise CrashInView" in record["error"]["stack"]
    assert record_errors(record) is None


def test_asgi_streams_chunk_by_chunk() -> None:
    """The ASGI middleware forwards each body message as it comes (nothing is held back)."""
    pipeline, sink = memory_pipeline(small_settings())
    produced: list[int] = []
    forwarded: list[tuple[int, int]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(5):
            produced.append(i)
            await send({"type": "http.response.body", "body": b"c" * 100, "more_body": i < 4})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            forwarded.append((len(produced), len(message["body"])))

    scope = {"type": "http", "method": "GET", "path": "/s", "headers": [], "query_string": b""}
    asyncio.run(RequestTrailMiddleware(app, pipeline=pipeline)(scope, receive, send))
    assert forwarded == [(1, 100), (2, 100), (3, 100), (4, 100), (5, 100)]
    assert sink.records[0]["response_body_size"] == 500


def test_wsgi_streams_chunk_by_chunk() -> None:
    """The WSGI middleware yields each chunk before the app produces the next one."""
    pipeline, sink = memory_pipeline(small_settings())
    produced: list[int] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        for i in range(3):
            produced.append(i)
            yield b"c" * 100

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/s", "wsgi.input": io.BytesIO()}
    body = RequestTrailWSGIMiddleware(app, pipeline=pipeline)(environ, lambda *a: None)
    seen = [len(produced) for _chunk in body]
    assert seen == [1, 2, 3] and not sink.records  # the record goes out on close()
    body.close()  # type: ignore[attr-defined]
    assert sink.records[0]["response_body_size"] == 300


def test_user_id_from_a_callable_wins_over_the_header() -> None:
    """A configured user-ID getter (e.g. from the session) overrides the header value."""
    from starlette.testclient import TestClient

    from tests.producers.apps import starlette_app

    pipeline, sink = memory_pipeline(small_settings())
    app = starlette_app(pipeline=pipeline, user_id_getter=lambda scope: "player-from-session")
    TestClient(app).get("/inventory", headers={"x-user-id": "spoofed"})
    assert sink.records[0]["user_id"] == "player-from-session"


def test_user_id_header_is_configurable() -> None:
    """settings.user_id_header names the header the user ID is read from."""
    pipeline, sink = memory_pipeline(small_settings(user_id_header="x-player"))
    with framework_client("flask", pipeline) as client:
        client.request("GET", "/inventory", headers={"x-player": "player-7", "x-user-id": "no"})
    assert sink.records[0]["user_id"] == "player-7"


def test_app_code_can_bind_the_user_id_after_login() -> None:
    """A view that binds user_id into structlog's contextvars names the record's user."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    async def login(request: Request) -> JSONResponse:
        bind_contextvars(user_id="player-logged-in")
        return JSONResponse({"ok": True})

    pipeline, sink = memory_pipeline(small_settings())
    app = RequestTrailMiddleware(Starlette(routes=[Route("/login", login)]), pipeline=pipeline)
    TestClient(app).get("/login")
    assert sink.records[0]["user_id"] == "player-logged-in"


def test_the_request_ids_are_the_headers_and_app_bound_ones_fill_the_gaps() -> None:
    """The record's request, device and session IDs are the ones the request came with (the
    request ID is the one X-Request-ID answers with), even if the app binds others; an ID
    the request lacked is taken from what the app bound."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    async def rebind(request: Request) -> JSONResponse:
        bind_contextvars(request_id="app-own", device_id="dev-app", session_id="sess-app")
        return JSONResponse({"ok": True})

    pipeline, sink = memory_pipeline(small_settings())
    app = RequestTrailMiddleware(Starlette(routes=[Route("/rebind", rebind)]), pipeline=pipeline)
    client = TestClient(app)
    given = client.get("/rebind", headers={"x-device-id": "dev-1", "x-session-id": "sess-1"})
    lacking = client.get("/rebind")
    first, second = sink.records
    assert (first["request_id"], first["device_id"], first["session_id"]) == (
        given.headers["x-request-id"],
        "dev-1",
        "sess-1",
    )
    assert (second["request_id"], second["device_id"], second["session_id"]) == (
        lacking.headers["x-request-id"],
        "dev-app",
        "sess-app",
    )


def test_app_version_header_is_honoured_only_when_configured() -> None:
    """X-App-Version sets app_version only with settings.app_version_header; else the setting."""
    for header_setting, expected in (("", "2.0.0"), ("x-app-version", "2.1.0-canary")):
        pipeline, sink = memory_pipeline(
            small_settings(app_version="2.0.0", app_version_header=header_setting)
        )
        with framework_client("starlette", pipeline) as client:
            client.request("GET", "/inventory", headers={"x-app-version": "2.1.0-canary"})
        assert sink.records[0]["app_version"] == expected


def test_client_ip_can_be_hashed() -> None:
    """With hash_client_ip the record holds the salted SHA-256 of the client's address (Django's
    test client comes from 127.0.0.1), cut to 32 hex digits, not the address."""
    pipeline, sink = memory_pipeline(small_settings(hash_client_ip=True, client_ip_salt="s"))
    with framework_client("django", pipeline) as client:
        client.request("GET", "/inventory")
    assert sink.records[0]["client_ip"] == hashlib.sha256(b"s127.0.0.1").hexdigest()[:32]


def test_sampling_drops_ordinary_requests_but_keeps_crashes() -> None:
    """At sample_rate 0 only the crashing request is recorded, with sample_rate 1."""
    pipeline, sink = memory_pipeline(small_settings(sample_rate=0.0))
    with framework_client("starlette", pipeline) as client:
        for _ in range(5):
            client.request("GET", "/inventory")
        client.request("GET", "/crash")
    assert [(r["status"], r["sample_rate"]) for r in sink.records] == [(500, 1.0)]
    assert pipeline.sampler.sampled_out == 5


def test_starlette_authenticated_user_is_the_user_id() -> None:
    """With Starlette's AuthenticationMiddleware, request.user's identity names the record."""
    from starlette.applications import Starlette
    from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
    from starlette.middleware import Middleware
    from starlette.middleware.authentication import AuthenticationMiddleware
    from starlette.requests import HTTPConnection, Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    class TokenBackend(AuthenticationBackend):
        async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser]:
            return AuthCredentials(["player"]), SimpleUser("player-from-token")

    async def home(request: Request) -> JSONResponse:
        return JSONResponse({"hi": request.user.display_name})

    pipeline, sink = memory_pipeline(small_settings())
    app = Starlette(
        routes=[Route("/home", home)],
        middleware=[
            Middleware(RequestTrailMiddleware, pipeline=pipeline),
            Middleware(AuthenticationMiddleware, backend=TokenBackend()),
        ],
    )
    TestClient(app).get("/home", headers={"x-user-id": "header-user"})
    assert sink.records[0]["user_id"] == "player-from-token"


def test_django_user_id_getter_setting() -> None:
    """settings.REQTRAIL["USER_ID_GETTER"] (a callable or dotted path) names Django's user."""
    from django.test.utils import override_settings

    from tests.producers.apps import configure_django

    configure_django()
    pipeline, sink = memory_pipeline(small_settings())
    with (
        override_settings(REQTRAIL={"USER_ID_GETTER": lambda request: "player-django"}),
        framework_client("django", pipeline) as client,
    ):
        client.request("GET", "/inventory", headers={"x-user-id": "header-user"})
    assert sink.records[0]["user_id"] == "player-django"


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_empty_headers_are_not_stored(framework: str) -> None:
    """A header sent with an empty value (content-length: "" on a GET) is left out."""
    pipeline, sink = memory_pipeline(small_settings())
    with framework_client(framework, pipeline) as client:
        client.request(
            "GET", "/inventory", headers={"accept": "", "x-device-id": "", "x-platform": "ios"}
        )
    (record,) = sink.records
    assert "accept" not in record["request_headers"]
    assert record["request_headers"]["x-platform"] == "ios"
    assert record.get("device_id") is None
    assert all(record["request_headers"].values()) and all(record["response_headers"].values())


def test_wsgi_empty_content_length_is_not_stored() -> None:
    """A WSGI server's CONTENT_LENGTH="" on a GET does not become a header of the record."""
    pipeline, sink = memory_pipeline(small_settings())

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "")])
        return [b""]

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "CONTENT_LENGTH": "", "CONTENT_TYPE": ""}
    body = RequestTrailWSGIMiddleware(app, pipeline=pipeline)(environ, lambda *a: None)
    body.close()  # type: ignore[attr-defined]
    (record,) = sink.records
    assert "content-length" not in record["request_headers"]
    assert "content-type" not in record["request_headers"]
    assert "content-length" not in record["response_headers"]
