"""Integration with a real sentry-sdk client that sends to a local HTTP endpoint.

The local Sentry collector (``reqtrail.sentry_collector``, also used by the demo) accepts the
envelopes sentry-sdk really sends, so the tests check what Sentry would have received.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sentry_sdk
from sentry_sdk.integrations.dedupe import DedupeIntegration

from reqtrail.consumers.setup import ensure_topics
from reqtrail.producers.pipeline import RecordPipeline
from reqtrail.schemas import record_errors
from reqtrail.sentry_collector import EventStore, serve
from reqtrail.settings import Settings, load_settings
from tests.producers.frameworks import FRAMEWORKS, framework_client
from tests.producers.helpers import memory_pipeline, read_topic


@pytest.fixture
def sentry_inbox() -> Iterator[tuple[str, EventStore]]:
    """(DSN, events) of the local Sentry collector, with sentry-sdk initialised to send there."""
    inbox = EventStore()
    server = serve("127.0.0.1", 0, inbox)
    dsn = f"http://publickey@127.0.0.1:{server.server_address[1]}/42"
    with sentry_client(dsn):
        yield dsn, inbox
    server.shutdown()
    server.server_close()


@contextmanager
def sentry_client(dsn: str) -> Iterator[None]:
    sentry_sdk.init(
        dsn=dsn,
        default_integrations=False,
        auto_enabling_integrations=False,
        integrations=[DedupeIntegration()],
        environment="test",
    )
    try:
        yield
    finally:
        sentry_sdk.get_client().close(timeout=2)
        sentry_sdk.get_global_scope().set_client(None)


def event_for(inbox: EventStore, event_id: str) -> dict[str, Any]:
    sentry_sdk.flush(timeout=5)
    matching = inbox.search(event_id)
    assert len(matching) == 1, f"Sentry got {len(matching)} events with id {event_id}"
    return matching[0]


@pytest.mark.integration
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_crash_links_record_and_sentry_event(
    framework: str, settings: Settings, sentry_inbox: tuple[str, EventStore]
) -> None:
    """500 for the client; the record's sentry_event_id names an event with its user and ID."""
    _dsn, inbox = sentry_inbox
    ensure_topics(settings)
    pipeline = RecordPipeline(settings)
    try:
        with framework_client(framework, pipeline) as client:
            answer = client.request(
                "GET",
                "/crash",
                headers={
                    "x-user-id": "player-00666",
                    "x-device-id": "dev-abc",
                    "x-request-id": f"crash-{framework}",
                },
            )
        assert answer.status == 500
        assert pipeline.flush(timeout=30)
    finally:
        pipeline.close(timeout=5)
    ((key, record),) = read_topic(settings)
    assert record_errors(record) is None
    assert key == b"player-00666" and record["status"] == 500
    error = record["error"]
    assert error["type"].endswith("CrashInView") and error["sentry_event_id"]
    event = event_for(inbox, error["sentry_event_id"])
    assert event["user"]["id"] == record["user_id"] == "player-00666"
    assert event["tags"]["request_id"] == record["request_id"] == f"crash-{framework}"
    assert event["tags"]["device_id"] == "dev-abc"
    assert event["exception"]["values"][-1]["type"] == "CrashInView"


def test_concurrent_async_requests_keep_their_own_sentry_user(
    sentry_inbox: tuple[str, EventStore],
) -> None:
    """Interleaved ASGI requests each report their own user and request ID to Sentry."""
    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from reqtrail.producers.asgi import RequestTrailMiddleware

    _dsn, inbox = sentry_inbox
    pipeline, sink = memory_pipeline(load_settings(environ={}))
    arrived = asyncio.Event()
    waiting = [0]

    async def crash_later(request: Request) -> JSONResponse:
        waiting[0] += 1
        if waiting[0] == 10:
            arrived.set()
        await arrived.wait()  # all ten are in flight before any of them crashes
        raise RuntimeError(f"crash for {request.headers['x-user-id']}")

    app = RequestTrailMiddleware(
        Starlette(routes=[Route("/crash", crash_later)]), pipeline=pipeline
    )

    async def play() -> list[int]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://game") as client:
            answers = await asyncio.gather(
                *(
                    client.get("/crash", headers={"x-user-id": f"p-{i}", "x-request-id": f"r-{i}"})
                    for i in range(10)
                )
            )
        return [a.status_code for a in answers]

    assert asyncio.run(play()) == [500] * 10
    records = sink.records
    assert len(records) == 10
    for record in records:
        event = event_for(inbox, record["error"]["sentry_event_id"])
        assert event["user"]["id"] == record["user_id"]
        assert event["tags"]["request_id"] == record["request_id"]
        assert record["error"]["message"] == f"crash for {record['user_id']}"


def test_without_sentry_records_have_no_event_id() -> None:
    """With no Sentry client the error is still recorded, without sentry_event_id."""
    pipeline, sink = memory_pipeline(load_settings(environ={}))
    with framework_client("starlette", pipeline) as client:
        assert client.request("GET", "/crash").status == 500
    assert "sentry_event_id" not in sink.records[0]["error"]


def test_handled_crash_reported_by_the_app_keeps_body_error_and_event(
    sentry_inbox: tuple[str, EventStore],
) -> None:
    """An app's own 500 handler calls report_exception: the record has body, error and event."""
    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from reqtrail.producers import report_exception
    from reqtrail.producers.asgi import RequestTrailMiddleware

    _dsn, inbox = sentry_inbox
    pipeline, sink = memory_pipeline(load_settings(environ={}))

    class RewardError(RuntimeError):
        pass

    async def finish(request: Request) -> JSONResponse:
        raise RewardError("no reward row")

    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": "internal", "event": report_exception(exc)}, 500)

    inner = Starlette(routes=[Route("/finish", finish)], exception_handlers={RewardError: handler})
    app = RequestTrailMiddleware(inner, pipeline=pipeline)

    async def play() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://game") as client:
            return await client.get("/finish", headers={"x-user-id": "p-7", "x-request-id": "r-7"})

    answer = asyncio.run(play())
    assert answer.status_code == 500
    (record,) = sink.records
    assert record_errors(record) is None
    assert record["status"] == 500 and record["error"]["type"].endswith("RewardError")
    event_id = record["error"]["sentry_event_id"]
    assert answer.json() == {"error": "internal", "event": event_id}
    assert '"event"' in record["response_body"] and event_id in record["response_body"]
    event = event_for(inbox, event_id)
    assert event["user"]["id"] == "p-7" and event["tags"]["request_id"] == "r-7"


def test_report_exception_outside_a_request_does_nothing() -> None:
    """Called with no request in flight, report_exception returns None and raises nothing."""
    from reqtrail.producers import report_exception

    assert report_exception(RuntimeError("stray")) is None
