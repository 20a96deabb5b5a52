"""``reqtrail dlq``: look into the dead-letter topic (re-driving it: consumers.redrive).

The clients here never create a topic: a misspelled ``REQTRAIL_DLQ_TOPIC`` is reported
in one line, not created empty.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from reqtrail.consumers.clients import client_id, forbid_topic_creation
from reqtrail.consumers.dlq import DeadLetterInfo
from reqtrail.consumers.preflight import missing_topic
from reqtrail.settings import Settings


@dataclass
class DeadLetterSummary:
    """What is in the dead-letter topic."""

    topic: str
    total: int = 0
    read: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    by_reason: Counter[str] = field(default_factory=Counter)
    samples: list[DeadLetterInfo] = field(default_factory=list)


def dlq_consumer(settings: Settings, group_id: str | None) -> Any:
    """A consumer of the dead-letter topic that never creates a topic."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        group_id=group_id,
        client_id=client_id("dlq"),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        allow_auto_create_topics=False,
    )
    return forbid_topic_creation(consumer)


def require_topic(consumer: Any, settings: Settings, setting: str) -> None:
    """Raise SetupMissingError unless the topic named by ``setting`` exists."""
    topic = getattr(settings, setting)
    if topic not in consumer.topics():
        raise missing_topic(topic, setting, settings)


def assign_all(consumer: Any, topic: str) -> list[TopicPartition]:
    partitions = consumer.partitions_for_topic(topic) or set()
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    return tps


def read_until(
    consumer: Any,
    ends: dict[TopicPartition, int],
    handle: Callable[[list[Any]], None],
    timeout_s: float,
) -> None:
    """Poll until every partition reached its end offset (or nothing arrives for timeout_s)."""
    idle_since = time.monotonic()
    while any(consumer.position(tp) < end for tp, end in ends.items() if end > 0):
        polled = consumer.poll(timeout_ms=500)
        if polled:
            idle_since = time.monotonic()
            for tp, records in polled.items():
                handle([r for r in records if r.offset < ends.get(tp, 0)])
        elif time.monotonic() - idle_since > timeout_s:
            raise TimeoutError(f"dead-letter topic did not deliver records for {timeout_s:.0f} s")


def summarize(
    settings: Settings, *, samples: int = 5, max_read: int = 100_000
) -> DeadLetterSummary:
    """Counts by kind and reason, and the newest ``samples`` dead letters."""
    summary = DeadLetterSummary(settings.dlq_topic)
    consumer = dlq_consumer(settings, None)
    try:
        require_topic(consumer, settings, "dlq_topic")
        tps = assign_all(consumer, settings.dlq_topic)
        if not tps:
            return summary
        begins = consumer.beginning_offsets(tps)
        ends = consumer.end_offsets(tps)
        summary.total = sum(ends[tp] - begins[tp] for tp in tps)
        for tp in tps:  # read at most max_read, newest first per partition
            share = max(1, max_read // len(tps))
            consumer.seek(tp, max(begins[tp], ends[tp] - share))
        newest: list[DeadLetterInfo] = []

        def handle(records: list[Any]) -> None:
            for record in records:
                info = DeadLetterInfo.from_message(record)
                summary.read += 1
                summary.by_kind[info.kind] += 1
                summary.by_reason[_reason_key(info.reason)] += 1
                newest.append(info)
                if len(newest) > 2 * samples:
                    newest.sort(key=lambda i: i.failed_at)
                    del newest[:-samples]

        read_until(consumer, ends, handle, timeout_s=15)
        newest.sort(key=lambda i: i.failed_at)
        summary.samples = newest[-samples:] if samples else []
        return summary
    finally:
        consumer.close()


def _reason_key(reason: str) -> str:
    """Reasons grouped: without 'caused by' detail, JSON positions and document ids."""
    text = reason.split(" (caused by", 1)[0]
    text = re.sub(r"\[\d+:\d+\] ?", "", text)
    text = re.sub(r"id '[^']*'", "id '...'", text)
    return text[:120]
