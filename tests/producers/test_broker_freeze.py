"""Integration (dedicated broker): a broker frozen with a produce request in flight, then killed.

kafka-python 3.0 wedges its idempotent producer in this case (docs/kafka-python-notes.md):
the in-flight batch expires after the delivery timeout, the producer ID is reset and never
re-initialised, and every later record would stay in memory forever.  The sink's watchdog
must replace the producer by itself, while the server keeps serving ~200 requests/s.

Each run quiesces the traffic until everything sent so far is acknowledged, then freezes the
broker (SIGSTOP) and lets traffic go on, so the produce request in flight is one the broker
never reads (it is killed before it wakes up): whether a record reached Kafka is then known
for every record, and "exactly once on the topic after resend-spill" is a fair check.  (A
record whose request the broker had written but not yet acknowledged when it froze is in
doubt: the sink spills it, and a resend may write it twice; the indexer's ``_id`` is the
request ID, so Elasticsearch still holds it once.)
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from reqtrail.commands import app, register_all
from reqtrail.consumers.setup import ensure_topics
from reqtrail.producers.pipeline import RecordPipeline
from reqtrail.services import processes
from reqtrail.settings import Settings
from tests.producers.apps import starlette_app
from tests.producers.helpers import read_topic
from tests.producers.traffic import Traffic

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
]

RUNS = 5
DELIVERY_TIMEOUT_MS = 3000
FROZEN_S = 1.5  # SIGSTOP, then kill -9 ...
DOWN_S = DELIVERY_TIMEOUT_MS / 1000 + 2.0  # ... and the broker stays away this long
AFTER_S = 4.0  # traffic once the broker is back


def wait_for(check: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


def freeze(kafka: Any) -> None:
    record = kafka.record()
    assert record is not None, "the dedicated broker is not running"
    processes.signal_group(record.pid, signal.SIGSTOP)


def outage_run(kafka: Any, local: Settings) -> dict[str, Any]:
    """One freeze-kill-restart under load; returns what the checks need."""
    ensure_topics(local)
    pipeline = RecordPipeline(local)
    sink = pipeline.sink
    traffic = Traffic(starlette_app(pipeline=pipeline), rate_per_s=200).start()
    try:
        traffic.phase = "before"
        wait_for(lambda: sink.stats().delivered >= 200, 30, "records to flow")
        traffic.pause()
        wait_for(lambda: sink.stats().queued + sink.stats().in_flight == 0, 10, "acks")
        freeze(kafka)
        outage_began = time.monotonic()
        traffic.phase = "outage"
        traffic.resume()
        wait_for(lambda: sink.stats().in_flight > 0, 5, "a produce request in flight")
        time.sleep(FROZEN_S)
        kafka.kill()
        time.sleep(max(0.0, outage_began + DOWN_S - time.monotonic()))
        kafka.start()
        traffic.phase = "after"
        time.sleep(AFTER_S)
        traffic.pause()
        flushed = pipeline.flush(timeout=30)
        stats = sink.stats()
    finally:
        traffic.stop()
        pipeline.close(timeout=5)
    assert not traffic.failures, traffic.failures[:5]
    assert flushed, f"records still held 30 s after the broker came back: {stats}"
    return {"stats": stats, "final": sink.stats(), "ids": dict(traffic.ids)}


def resend(local: Settings, spill: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("REQTRAIL_KAFKA_BOOTSTRAP", local.kafka_bootstrap)
    monkeypatch.setenv("REQTRAIL_TOPIC", local.topic)
    register_all()
    result = CliRunner().invoke(app, ["resend-spill", "--path", str(spill)])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("client", ["kafka-python", "confluent-kafka"])
def test_producer_recovers_from_a_frozen_then_killed_broker_under_load(
    dedicated_kafka: Any,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    client: str,
) -> None:
    """5 runs: records after the broker returns are delivered, the rest spilled; no loss.
    kafka-python wedges and its producer is replaced; librdkafka recovers by itself."""
    kafka = dedicated_kafka()
    resets = 0
    for run in range(RUNS):
        spill = tmp_path / f"spill-{run}.ndjson"
        local = settings.replace(
            kafka_bootstrap=kafka.bootstrap,
            topic=f"{settings.topic}-{run}",
            kafka_delivery_timeout_ms=DELIVERY_TIMEOUT_MS,
            kafka_linger_ms=20,
            spill_path=str(spill),
            kafka_client=client,
        )
        outcome = outage_run(kafka, local)
        stats, final, ids = outcome["stats"], outcome["final"], outcome["ids"]
        print(f"\nrun {run}: {stats}")
        resets += final.producer_resets

        # Every record produced after the broker returned is on the topic.
        on_topic = Counter(record["request_id"] for _key, record in read_topic(local))
        missing_after = [rid for rid in ids["after"] if rid not in on_topic]
        assert not missing_after, f"run {run}: {len(missing_after)} later records not delivered"

        # The ones the outage caught are counted by reason and spilled, nothing else.
        assert final.produced == final.delivered + final.dropped, final
        assert sum(final.dropped_by_reason.values()) == final.dropped, final
        spilled = [orjson.loads(line)["request_id"] for line in spill.read_bytes().splitlines()]
        assert len(spilled) == final.spilled == final.dropped, (len(spilled), final)
        assert final.dropped > 0, f"run {run}: the outage caught nothing: {final}"
        assert not set(spilled) & set(on_topic), f"run {run}: spilled records were delivered"

        # After resend-spill, Kafka holds every request ID exactly once.
        resend(local, spill, monkeypatch)
        on_topic = Counter(record["request_id"] for _key, record in read_topic(local))
        produced = [rid for phase_ids in ids.values() for rid in phase_ids]
        assert len(produced) == final.produced
        assert set(on_topic) == set(produced), f"run {run}: lost {set(produced) - set(on_topic)}"
        twice = [rid for rid, n in on_topic.items() if n > 1]
        assert not twice, f"run {run}: {len(twice)} request IDs twice on the topic: {twice[:5]}"
    if client == "kafka-python":
        assert resets > 0, "the broker freezes never wedged a producer: the scenario was not hit"
