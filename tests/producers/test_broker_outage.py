"""Integration (dedicated broker): Kafka down at startup, stopped mid-run, and back again.

The broker is our own (``dedicated_kafka``), never the shared one.  Throughout, requests
succeed quickly; every record is either on the topic or counted as dropped (and spilled),
and after the broker returns new records flow without restarting the app.
"""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from reqtrail.consumers.setup import ensure_topics
from reqtrail.producers.kafka_logs import CONNECTION_TROUBLE
from reqtrail.producers.pipeline import RecordPipeline
from reqtrail.settings import Settings
from tests.producers.apps import starlette_app
from tests.producers.helpers import call_asgi, read_topic

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
]

# A request that takes longer than this in-process means the middleware waited on Kafka.
# (The benchmark measures the real overhead; this bound only catches blocking.)
BLOCKED_MS = 50.0


def play(app: Any, phase: str, count: int) -> tuple[list[str], list[float]]:
    """``count`` upgrade requests; their request IDs and in-process latencies (ms)."""
    ids, latencies = [], []
    for i in range(count):
        rid = f"{phase}-{i:03d}"
        status, seconds = call_asgi(
            app,
            "POST",
            f"/units/u-{i}/upgrade",
            {
                "x-user-id": f"player-{i % 7:05d}",
                "x-request-id": rid,
                "content-type": "application/json",
            },
            b'{"gold": 100}',
        )
        assert status == 200
        ids.append(rid)
        latencies.append(seconds * 1000.0)
    return ids, latencies


def wait_for(check: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)


@pytest.mark.parametrize("client", ["kafka-python", "confluent-kafka"])
def test_requests_survive_kafka_outages_and_records_flow_again(
    dedicated_kafka: Any,
    settings: Settings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    client: str,
) -> None:
    """Down at start, stopped, restarted: fast requests; topic + dropped == produced; each
    outage is one reqtrail line and each recovery another, the client's lines folded."""
    caplog.set_level(logging.WARNING)
    kafka = dedicated_kafka(start=False)
    spill = tmp_path / "spill.ndjson"
    local = settings.replace(
        kafka_bootstrap=kafka.bootstrap,
        buffer_size=40,
        kafka_delivery_timeout_ms=4000,
        kafka_linger_ms=20,
        spill_path=str(spill),
        kafka_client=client,
    )
    pipeline = RecordPipeline(local)
    app = starlette_app(pipeline=pipeline)
    try:
        # 1. Kafka not running at all: the app starts and serves; records wait in the buffer.
        early_ids, early_ms = play(app, "before-kafka", 10)
        assert max(early_ms) < BLOCKED_MS, early_ms
        assert pipeline.sink.stats().queued == 10

        kafka.start()
        ensure_topics(local)
        wait_for(lambda: pipeline.sink.stats().delivered == 10, 60, "the early records")

        # 2. Broker stopped: requests stay fast; beyond 40 held records they are dropped.
        kafka.stop()
        outage_ids, outage_ms = play(app, "outage", 60)
        assert max(outage_ms) < BLOCKED_MS, outage_ms
        wait_for(lambda: pipeline.sink.stats().dropped == 60, 30, "the outage records to time out")
        print(
            f"\nin-process latency (ms) before Kafka started: median "
            f"{statistics.median(early_ms):.3f} max {max(early_ms):.3f}; during the outage: "
            f"median {statistics.median(outage_ms):.3f} max {max(outage_ms):.3f}"
        )

        # 3. Broker back: the same app (same producer) delivers new records.
        kafka.start()
        after_ids, _ = play(app, "after", 15)
        assert pipeline.flush(timeout=60)
        stats = pipeline.sink.stats()
    finally:
        pipeline.close(timeout=5)

    assert stats.produced == 85
    assert stats.dropped == 60 and stats.spilled == 60
    assert stats.delivered == 25 == stats.produced - stats.dropped
    on_topic = {record["request_id"] for _key, record in read_topic(local)}
    assert on_topic == set(early_ids) | set(after_ids)
    spilled = {orjson.loads(line)["request_id"] for line in spill.read_bytes().splitlines()}
    assert spilled == set(outage_ids)
    # ~40 held time out, the rest overflow (one that times out early frees a slot)
    assert set(stats.dropped_by_reason) == {"delivery_timeout", "buffer_full"}
    assert sum(stats.dropped_by_reason.values()) == 60

    messages = [(r.name, r.getMessage()) for r in caplog.records]
    down = [m for name, m in messages if "Kafka is not reachable" in m]
    back = [m for name, m in messages if "answers again" in m]
    assert len(down) == 2 and len(back) == 2, messages
    assert all(f"at {kafka.bootstrap} (REQTRAIL_KAFKA_BOOTSTRAP)" in m for m in down)
    kafka_lines = [m for name, m in messages if name.startswith("kafka")]
    assert not [m for m in kafka_lines if CONNECTION_TROUBLE.search(m)], kafka_lines[:5]
