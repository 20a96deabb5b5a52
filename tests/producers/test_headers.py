"""Record fields from the headers a middleware hands over (``HeaderFields``), and the same
fields end to end through the three middlewares (in-memory sink, no Kafka)."""

from __future__ import annotations

import io
from typing import Any

import pytest

from reqtrail.producers.asgi import RequestTrailMiddleware
from reqtrail.producers.headers import CaptureConfig, HeaderFields
from reqtrail.producers.wsgi import RequestTrailWSGIMiddleware
from reqtrail.settings import load_settings
from tests.producers.frameworks import FRAMEWORKS, framework_client
from tests.producers.helpers import memory_pipeline

SETTINGS = load_settings(environ={}).replace(
    header_allowlist=("content-type", "x-platform", "x-request-id", "accept"),
    app_version_header="x-app-version",
)
FIELDS = HeaderFields(CaptureConfig.from_settings(SETTINGS))
REQUEST = {
    "user-agent": "GameClient/3.2",
    "x-client-version": "3.2.1",
    "x-platform": "ios",
    "content-type": "application/json",
    "accept": "",
    "authorization": "Bearer secret",
    "x-app-version": "1.4.0",
    "x-reqtrail-replay-of": " 01ORIGINAL ",
}
EXPECTED = {
    "request_headers": {"x-platform": "ios", "content-type": "application/json"},
    "user_agent": "GameClient/3.2",
    "client_version": "3.2.1",
    "platform": "ios",
    "_request_content_type": "application/json",
    "replay_of": "01ORIGINAL",
    "app_version": "1.4.0",
}


def run(event: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = FIELDS(None, "info", event)
    return out


def test_wanted_headers_become_fields() -> None:
    """WSGI/Django hand over the wanted headers by name; allow-listed, non-empty ones are
    kept, the rest only feed their own fields."""
    wanted = {k: v for k, v in REQUEST.items() if k != "authorization"}
    assert run({"method": "GET", "_headers": wanted}) == {"method": "GET", **EXPECTED}


def test_raw_asgi_headers_become_the_same_fields() -> None:
    """ASGI hands over every header as bytes pairs; headers neither wanted nor allow-listed
    go, and of a repeated one the last wins (as in a WSGI environ)."""
    raw = [(b"x-platform", b"android"), *((k.encode(), v.encode()) for k, v in REQUEST.items())]
    assert run({"method": "GET", "_raw_headers": raw}) == {"method": "GET", **EXPECTED}


def test_unusable_replay_of_is_none_and_absent_headers_make_no_fields() -> None:
    out = run({"_headers": {"x-reqtrail-replay-of": "\x00bad"}})
    assert out == {"request_headers": {}, "_request_content_type": None, "replay_of": None}


def test_raw_response_headers_are_picked_by_the_allow_list() -> None:
    sent = [
        (b"content-type", b"text/plain"),
        (b"accept", b""),
        (b"set-cookie", b"sid=1"),
        (b"x-request-id", b"01ABC"),
    ]
    out = run({"_raw_response_headers": sent})
    assert out == {
        "response_headers": {"content-type": "text/plain", "x-request-id": "01ABC"},
        "_response_content_type": "text/plain",
    }


def test_wsgi_and_django_response_headers_are_picked_by_the_allow_list() -> None:
    """WSGI and Django hand their ``(name, value)`` pairs over as sent, in any case."""
    sent = [
        ("Content-Type", "text/plain"),
        ("Accept", ""),
        ("Set-Cookie", "sid=1"),
        ("X-Request-ID", "01ABC"),
    ]
    out = run({"_response_header_pairs": sent})
    assert out == {
        "response_headers": {"content-type": "text/plain", "x-request-id": "01ABC"},
        "_response_content_type": "text/plain",
    }


def test_event_without_headers_is_left_alone() -> None:
    assert run({"method": "GET", "status": 200}) == {"method": "GET", "status": 200}


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_header_fields_in_every_framework(framework: str) -> None:
    """The same request gives the same header fields in all three middlewares."""
    pipeline, sink = memory_pipeline(SETTINGS)
    with framework_client(framework, pipeline) as client:
        answer = client.request("GET", "/inventory", headers=REQUEST)
    (record,) = sink.records
    request_headers = record["request_headers"]
    assert request_headers.pop("content-type", "application/json") == "application/json"
    assert request_headers == {"x-platform": "ios"}
    assert (record["user_agent"], record["client_version"], record["platform"]) == (
        "GameClient/3.2",
        "3.2.1",
        "ios",
    )
    assert (record["replay_of"], record["app_version"]) == ("01ORIGINAL", "1.4.0")
    assert record["response_headers"]["x-request-id"] == answer.headers["x-request-id"]
    assert record["response_headers"]["content-type"].startswith("application/json")


@pytest.mark.parametrize("sent_name", [b"x-request-id", b"X-Request-ID"])
def test_asgi_app_that_sends_its_own_request_id_gets_no_second_one(sent_name: bytes) -> None:
    pipeline, sink = memory_pipeline(SETTINGS)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/plain"), (sent_name, b"app-made")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}
    middleware = RequestTrailMiddleware(app, pipeline=pipeline)
    coroutine = middleware(scope, receive, send)
    with pytest.raises(StopIteration):
        coroutine.send(None)
    names = [name.lower() for name, _value in sent[0]["headers"]]
    assert names.count(b"x-request-id") == 1
    (record,) = sink.records
    assert record["status"] == 200
    assert record["response_headers"]["content-type"] == "text/plain"


@pytest.mark.parametrize("sent_name", ["x-request-id", "X-Request-ID"])
def test_wsgi_app_that_sends_its_own_request_id_gets_no_second_one(sent_name: str) -> None:
    pipeline, sink = memory_pipeline(SETTINGS)

    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), (sent_name, "app-made")])
        return [b"ok"]

    started: list[list[tuple[str, str]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append(headers)
        return None

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "wsgi.input": io.BytesIO(b"")}
    body = RequestTrailWSGIMiddleware(app, pipeline=pipeline)(environ, start_response)
    assert b"".join(body) == b"ok"
    close = getattr(body, "close", None)
    if close is not None:
        close()
    (headers,) = started
    assert [name.lower() for name, _value in headers].count("x-request-id") == 1
    (record,) = sink.records
    assert record["request_id"] != "app-made"
    assert record["response_headers"]["x-request-id"] == "app-made"
    assert record["response_headers"]["content-type"] == "text/plain"
