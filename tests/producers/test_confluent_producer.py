"""The sink on confluent-kafka (``REQTRAIL_KAFKA_CLIENT``'s default): counts, refusals and
partitions on the real broker; its settings and error mapping as pure logic.

The outage and frozen-broker fault tests run on both clients (``test_broker_outage``,
``test_broker_freeze``)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import KafkaError
from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

from reqtrail.consumers.setup import ensure_topics
from reqtrail.producers import accounting, confluent_producer
from reqtrail.producers.confluent_producer import drop_reason
from reqtrail.producers.sink import KafkaSink
from reqtrail.settings import Settings, SettingsError, load_settings


def partitions_of(settings: Settings, expected: int) -> tuple[dict[int, list[bytes]], int]:
    """(partition -> keys of the records on the topic, read from the beginning; how many
    partitions the topic has)."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    found: dict[int, list[bytes]] = {}
    try:
        partitions = sorted(consumer.partitions_for_topic(settings.topic) or ())
        consumer.assign([TopicPartition(settings.topic, p) for p in partitions])
        deadline = time.monotonic() + 30
        while sum(map(len, found.values())) < expected and time.monotonic() < deadline:
            for tp, batch in consumer.poll(timeout_ms=500).items():
                found.setdefault(tp.partition, []).extend(record.key for record in batch)
    finally:
        consumer.close()
    return found, len(partitions)


@pytest.mark.integration
def test_every_record_is_delivered_once_on_the_partition_kafka_python_picks(
    settings: Settings, tmp_path: Path
) -> None:
    """2,000 keyed records: all counted delivered, each once on the topic, each on the
    partition kafka-python's (and the Java client's) murmur2 gives its key."""
    local = settings.replace(kafka_client="confluent-kafka", spill_path=str(tmp_path / "s"))
    ensure_topics(local)
    sink = KafkaSink(local, register_atexit=False)
    keys = [f"player-{i % 37}".encode() for i in range(2000)]
    try:
        for i, key in enumerate(keys):
            sink.put(orjson.dumps({"request_id": f"r-{i}"}), key)
        assert sink.flush(30), sink.stats()
        stats = sink.stats()
    finally:
        sink.close(5)
    assert (stats.produced, stats.delivered, stats.dropped) == (2000, 2000, 0)
    found, count = partitions_of(local, 2000)
    assert Counter(k for ks in found.values() for k in ks) == Counter(keys)
    assert len(found) > 1
    for partition, on_it in found.items():
        assert {(murmur2(key) & 0x7FFFFFFF) % count for key in on_it} == {partition}


@pytest.mark.integration
def test_a_record_kafka_refuses_is_dropped_and_spilled_and_the_rest_delivered(
    settings: Settings, tmp_path: Path
) -> None:
    spill = tmp_path / "spill.ndjson"
    local = settings.replace(kafka_client="confluent-kafka", spill_path=str(spill))
    ensure_topics(local)
    sink = KafkaSink(local, register_atexit=False)
    big = orjson.dumps({"request_id": "big", "pad": "x" * 2_000_000})
    try:
        sink.put(orjson.dumps({"request_id": "a"}), b"k")
        sink.put(big, b"k")
        sink.put(orjson.dumps({"request_id": "b"}), b"k")
        assert sink.flush(30), sink.stats()
        stats = sink.stats()
    finally:
        sink.close(5)
    assert stats.delivered == 2 and stats.dropped_by_reason == {accounting.TOO_LARGE: 1}
    assert spill.read_bytes() == big + b"\n"


def test_records_held_when_kafka_never_answered_are_spilled_on_close(tmp_path: Path) -> None:
    """No broker at all: nothing delivered; close drops and spills every record (purged
    from librdkafka or still queued), with the shutdown reason."""
    spill = tmp_path / "spill.ndjson"
    local = load_settings(environ={}).replace(
        kafka_bootstrap="127.0.0.1:9",
        kafka_client="confluent-kafka",
        kafka_delivery_timeout_ms=60000,
        spill_path=str(spill),
    )
    sink = KafkaSink(local, register_atexit=False)
    for i in range(30):
        sink.put(orjson.dumps({"request_id": f"r-{i}"}), None)
    stats = sink.close(0.5)
    assert (stats.produced, stats.delivered, stats.dropped) == (30, 0, 30)
    assert stats.dropped_by_reason == {accounting.SHUTDOWN: 30}
    spilled = {orjson.loads(line)["request_id"] for line in spill.read_bytes().splitlines()}
    assert spilled == {f"r-{i}" for i in range(30)}


def test_an_unknown_client_fails_at_startup_naming_the_setting() -> None:
    with pytest.raises(SettingsError, match="REQTRAIL_KAFKA_CLIENT.*confluent-kafka"):
        load_settings(environ={"REQTRAIL_KAFKA_CLIENT": "librdkafka"})


def test_a_missing_confluent_kafka_package_fails_at_startup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(confluent_producer, "confluent_kafka", None)
    local = load_settings(environ={}).replace(kafka_client="confluent-kafka")
    with pytest.raises(SettingsError, match=r"pip install confluent-kafka\), or set it to"):
        KafkaSink(local, register_atexit=False)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (KafkaError._MSG_TIMED_OUT, accounting.DELIVERY_TIMEOUT),
        (KafkaError.MSG_SIZE_TOO_LARGE, accounting.TOO_LARGE),
        (KafkaError._PURGE_QUEUE, None),
        (KafkaError._PURGE_INFLIGHT, None),
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, accounting.KAFKA_ERROR),
    ],
)
def test_delivery_errors_map_to_drop_reasons(code: Any, reason: str | None) -> None:
    assert drop_reason(KafkaError(code)) == reason
