"""Which processors run on the request thread and which on the sink's, with a sink that takes
events (as ``KafkaSink.put_event`` does) and renders them later."""

from __future__ import annotations

from typing import Any

import orjson

from reqtrail.producers.pipeline import RecordPipeline
from reqtrail.producers.processors import Sampler
from reqtrail.producers.request_context import merge_request_context
from reqtrail.settings import Settings, load_settings


class EventSink:
    """Keeps each event with its renderer; ``render_all`` plays the sender thread."""

    def __init__(self) -> None:
        self.events: list[tuple[dict[str, Any], Any]] = []

    def put(self, payload: bytes, key: bytes | None) -> bool:
        raise AssertionError("events are handed over unrendered")

    def put_event(self, event: dict[str, Any], render: Any) -> bool:
        self.events.append((dict(event), render))
        return True

    def render_all(self) -> list[dict[str, Any]]:
        return [orjson.loads(render(event)[0]) for event, render in self.events]

    def stats(self) -> None:
        return None


def settings(**changes: Any) -> Settings:
    return load_settings(environ={}).replace(**changes)


def event(status: int) -> dict[str, Any]:
    return {"started_at": 1.0, "method": "GET", "path": "/p", "status": status, "latency_ms": 3}


def test_keeping_everything_leaves_only_the_context_merge_on_the_request_thread() -> None:
    """At sample rate 1 the sampler only stamps ``sample_rate``: that runs on the sender."""
    sink = EventSink()
    pipeline = RecordPipeline(settings(sample_rate=1.0), sink=sink)
    assert pipeline._on_request == (merge_request_context,)
    pipeline.emit(event(200))
    ((queued, _render),) = sink.events
    assert "sample_rate" not in queued
    assert [r["sample_rate"] for r in sink.render_all()] == [1.0]


def test_a_sampler_that_drops_decides_on_the_request_thread() -> None:
    """Below rate 1 a record not kept is never queued; the kept ones carry their rate."""
    sink = EventSink()
    pipeline = RecordPipeline(settings(sample_rate=0.0), sink=sink)
    assert isinstance(pipeline._on_request[-1], Sampler)
    for status in (200, 200, 503):
        pipeline.emit(event(status))
    assert [(r["status"], r["sample_rate"]) for r in sink.render_all()] == [(503, 1.0)]
    assert pipeline.sampler.sampled_out == 2
