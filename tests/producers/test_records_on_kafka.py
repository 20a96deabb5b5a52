"""Integration: requests through each middleware become exactly one valid record each on Kafka."""

from __future__ import annotations

import orjson
import pytest

from reqtrail.consumers.setup import ensure_topics
from reqtrail.producers.pipeline import RecordPipeline
from reqtrail.producers.redaction import REDACTED
from reqtrail.schemas import is_valid, record_errors
from reqtrail.settings import Settings
from tests.producers.apps import INVENTORY, STREAM_CHUNK, STREAM_CHUNKS
from tests.producers.frameworks import FRAMEWORKS, framework_client
from tests.producers.helpers import read_topic

pytestmark = pytest.mark.integration

BODY_MAX = 512


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_n_requests_make_n_valid_records(framework: str, settings: Settings) -> None:
    """Each request is one schema-valid record with its user, route, status, latency, bodies."""
    settings = settings.replace(body_max_bytes=BODY_MAX)
    ensure_topics(settings)
    pipeline = RecordPipeline(settings)
    expected: dict[str, dict[str, object]] = {}
    try:
        with framework_client(framework, pipeline) as client:
            for i in range(6):
                rid = f"{framework}-upgrade-{i}"
                answer = client.request(
                    "POST",
                    f"/units/u-{i}/upgrade",
                    headers={"x-user-id": f"player-{i:05d}", "x-request-id": rid},
                    json={"gold": 100 * i},
                )
                assert answer.status == 200 and answer.headers["x-request-id"] == rid
                expected[rid] = {"route": "/units/{unit_id}/upgrade", "user": f"player-{i:05d}"}
            for i in range(3):
                rid = f"{framework}-login-{i}"
                answer = client.request(
                    "POST",
                    "/login?device=ios&access_token=abc123",
                    headers={"x-user-id": f"player-1{i:04d}", "x-request-id": rid},
                    json={"user": f"player-1{i:04d}", "password": "hunter2"},
                )
                assert answer.status == 200
                expected[rid] = {"route": "/login", "user": f"player-1{i:04d}"}
            for i in range(2):
                rid = f"{framework}-inventory-{i}"
                answer = client.request(
                    "GET", "/inventory", headers={"x-user-id": "player-00077", "x-request-id": rid}
                )
                assert answer.status == 200 and orjson.loads(answer.body) == INVENTORY
                expected[rid] = {"route": "/inventory", "user": "player-00077", "size": 0}
                expected[rid]["size"] = len(answer.body)
            rid = f"{framework}-stream"
            answer = client.request("GET", "/stream", headers={"x-request-id": rid})
            assert len(answer.body) == STREAM_CHUNKS * len(STREAM_CHUNK)
            expected[rid] = {"route": "/stream", "user": None}
        assert pipeline.flush(timeout=30)
        stats = pipeline.sink.stats()
        assert (stats.produced, stats.delivered, stats.dropped) == (12, 12, 0)
    finally:
        pipeline.close(timeout=5)

    on_topic = read_topic(settings)
    assert len(on_topic) == len(expected) == 12
    by_id = {record["request_id"]: (key, record) for key, record in on_topic}
    assert set(by_id) == set(expected)
    for rid, want in expected.items():
        key, record = by_id[rid]
        assert is_valid(record), record_errors(record)
        assert record["route"] == want["route"] and record["status"] == 200
        assert record.get("user_id") == want["user"]
        assert key == (want["user"].encode() if want["user"] else None)  # type: ignore[union-attr]
        assert 0 < record["latency_ms"] < 10_000
        assert record["service"] == settings.service and record["schema_version"] == 1
        if "-login-" in rid:
            assert "hunter2" not in record["request_body"]
            assert orjson.loads(record["request_body"])["password"] == REDACTED
            assert orjson.loads(record["response_body"])["token"] == REDACTED
            assert record["query"] == f"device=ios&access_token={REDACTED}"
        if "-upgrade-" in rid:
            assert orjson.loads(record["request_body"]) == {"gold": 100 * int(rid[-1])}
            assert orjson.loads(record["response_body"])["unit_id"] == f"u-{rid[-1]}"
        if "-inventory-" in rid:
            assert record["response_body_truncated"] is True
            assert record["response_body_size"] == want["size"]
            assert len(record["response_body"].encode()) <= BODY_MAX
        if rid.endswith("-stream"):
            assert record["response_body_size"] == STREAM_CHUNKS * len(STREAM_CHUNK)
