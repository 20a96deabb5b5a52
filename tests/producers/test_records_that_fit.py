"""Records always fit: bodies are cut to the producer's maximum size, unusable IDs replaced."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from reqtrail.consumers.setup import ensure_topics
from reqtrail.producers.ids import request_id_from
from reqtrail.producers.pipeline import RecordPipeline
from reqtrail.producers.record_size import RECORD_OVERHEAD, fit_record
from reqtrail.schemas import is_valid, record_errors
from reqtrail.settings import Settings, SettingsError, load_settings
from tests.producers.apps import starlette_app
from tests.producers.helpers import call_asgi, memory_pipeline, read_topic

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MAX = 1048576


def event_with(body: str, **extra: Any) -> dict[str, Any]:
    return {
        "request_id": "r-1",
        "request_body": body,
        "request_body_truncated": False,
        "request_body_size": len(body.encode()),
        **extra,
    }


@pytest.mark.parametrize("char", ["a", "é", "😀", '"', "\x01"])
def test_a_body_past_the_maximum_is_cut_to_fit_and_marked(char: str) -> None:
    """Whatever the characters (multi-byte, JSON-escaped), the record ends under the limit."""
    body = char * (2 * MAX // len(char.encode()))
    event = event_with(body)
    payload = fit_record(event, b"player-1", MAX)
    assert len(payload) + len(b"player-1") + RECORD_OVERHEAD <= MAX
    assert len(payload) > MAX // 2, "cut far more than needed"
    record = orjson.loads(payload)
    assert record["request_body_truncated"] is True
    assert record["request_body_size"] == len(body.encode())
    assert set(record["request_body"]) <= {char}


def test_records_that_fit_are_left_alone() -> None:
    """A record under the limit is rendered unchanged."""
    event = event_with("x" * 1000)
    assert fit_record(dict(event), None, MAX) == orjson.dumps(event)


def test_without_bodies_long_texts_are_cut_as_a_last_resort() -> None:
    """Huge headers and paths are shortened too, so the record is still sent."""
    event = {"request_id": "r-1", "path": "/" + "p" * MAX, "request_headers": {"x": "h" * MAX}}
    payload = fit_record(event, None, 65536)
    assert len(payload) + RECORD_OVERHEAD <= 65536
    assert orjson.loads(payload)["path"].startswith("/ppp")


def test_maximum_request_size_has_a_sane_floor() -> None:
    """A tiny REQTRAIL_KAFKA_MAX_REQUEST_SIZE is a clear error at startup."""
    with pytest.raises(SettingsError, match="REQTRAIL_KAFKA_MAX_REQUEST_SIZE must be at least"):
        load_settings(environ={"REQTRAIL_KAFKA_MAX_REQUEST_SIZE": "100"})


@pytest.mark.parametrize(
    ("incoming", "kept"),
    [
        ("abc-123", True),
        ("ü" * 128, True),  # 256 bytes
        ("x" * 128, True),
        ("x" * 129, False),
        ("😀" * 256, False),  # 256 characters, 1,024 bytes: more than ES's 512-byte _id
        ("bad\x00id", False),
        ("line\nbreak", False),
        ("", False),
        ("   ", False),
    ],
)
def test_unusable_request_ids_are_replaced_and_kept_aside(incoming: str, kept: bool) -> None:
    """A usable X-Request-ID is the ID; anything else gets a new ID, the original kept."""
    request_id, original = request_id_from(incoming)
    if kept:
        assert (request_id, original) == (incoming, None)
    else:
        assert len(request_id) == 26 and len(request_id.encode()) <= 512
        assert original == (incoming[:256] or None)


def test_a_replaced_request_id_makes_a_valid_record(settings: Settings) -> None:
    """The record carries the generated ID, the original beside it, and is schema-valid."""
    pipeline, sink = memory_pipeline(settings)
    emoji = "😀" * 256  # sent as UTF-8 bytes; ASGI headers are read as latin-1
    raw = emoji.encode("utf-8").decode("latin-1")
    app = starlette_app(pipeline=pipeline)
    status, _ = call_asgi(app, "GET", "/inventory", {"x-request-id": emoji})
    assert status == 200
    (record,) = sink.records
    assert record["original_request_id"] == raw[:256]
    assert len(record["request_id"]) == 26
    assert is_valid(record), record_errors(record)


@pytest.mark.integration
def test_a_2_mb_body_with_a_4_mb_body_limit_reaches_kafka_cut_to_fit(settings: Settings) -> None:
    """REQTRAIL_BODY_MAX_BYTES=4000000 and a 2 MB body: the record is delivered, not dropped,
    with its body cut under the maximum request size and marked truncated."""
    local = settings.replace(body_max_bytes=4_000_000)
    ensure_topics(local)
    pipeline = RecordPipeline(local)
    body = orjson.dumps({"blob": "z" * 2_000_000})
    try:
        app = starlette_app(pipeline=pipeline)
        status, _ = call_asgi(
            app, "POST", "/upload", {"x-request-id": "big-1", "x-user-id": "p-1"}, body
        )
        assert status == 200
        assert pipeline.flush(timeout=30)
        stats = pipeline.sink.stats()
    finally:
        pipeline.close(timeout=5)
    assert (stats.delivered, stats.dropped) == (1, 0), stats
    ((_key, record),) = read_topic(local)
    assert record["request_id"] == "big-1"
    assert record["request_body_truncated"] is True
    assert record["request_body_size"] == len(body)
    assert 0 < len(orjson.dumps(record)) < local.kafka_max_request_size
    assert is_valid(record), record_errors(record)
