"""The guard: reqtrail's own failures never reach the game server's requests."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

import reqtrail.producers.cycle as cycle_module
from reqtrail.producers.asgi import RequestTrailMiddleware
from reqtrail.producers.guard import capture_internal_exceptions, internal_error_count
from reqtrail.producers.pipeline import RecordPipeline
from reqtrail.settings import load_settings


class ExplodingSink:
    def put(self, payload: bytes, key: bytes | None) -> bool:
        raise OSError("disk on fire")


def hello_app(pipeline: RecordPipeline) -> Any:
    async def hello(request: Request) -> JSONResponse:
        return JSONResponse({"hello": "player"})

    return RequestTrailMiddleware(Starlette(routes=[Route("/hello", hello)]), pipeline=pipeline)


def test_guard_swallows_reports_and_counts(internal_errors: list[BaseException]) -> None:
    """An exception inside the guard is swallowed, counted and handed to the hook."""
    before = internal_error_count()
    with capture_internal_exceptions():
        raise ValueError("bug")
    assert [type(e) for e in internal_errors] == [ValueError]
    assert internal_error_count() == before + 1


def test_guard_lets_base_exceptions_through() -> None:
    """KeyboardInterrupt/SystemExit are not ours to swallow."""
    with pytest.raises(KeyboardInterrupt), capture_internal_exceptions():
        raise KeyboardInterrupt


def test_broken_sink_does_not_fail_the_request(internal_errors: list[BaseException]) -> None:
    """If the sink raises, the player still gets the app's response."""
    pipeline = RecordPipeline(load_settings(environ={}), sink=ExplodingSink())
    response = TestClient(hello_app(pipeline)).get("/hello")
    assert response.status_code == 200 and response.json() == {"hello": "player"}
    assert [type(e) for e in internal_errors] == [OSError]


def test_failure_while_starting_the_record_still_serves_the_request(
    internal_errors: list[BaseException], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in building the request's record skips logging for that request, nothing else."""

    def broken_init(self: Any, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("bug in cycle")

    monkeypatch.setattr(cycle_module.RequestCycle, "__init__", broken_init)
    pipeline = RecordPipeline(load_settings(environ={}), sink=ExplodingSink())
    response = TestClient(hello_app(pipeline)).get("/hello")
    assert response.status_code == 200
    assert [str(e) for e in internal_errors] == ["bug in cycle"]
