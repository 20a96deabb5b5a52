"""``reqtrail dlq``: look into the dead-letter topic, and re-drive it after a fix.

Re-driving re-produces each dead letter's original bytes (and key and headers) to the
records topic, then commits the re-drive group's offsets, so every dead letter is
re-driven once; records that fail again come back to the dead-letter topic.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from reqtrail.consumers.clients import client_id, reliable_producer
from reqtrail.consumers.dlq import DeadLetterInfo, original_headers
from reqtrail.settings import Settings

REDRIVEN_FROM_HEADER = "reqtrail.redriven_from"


@dataclass
class DeadLetterSummary:
    """What is in the dead-letter topic."""

    topic: str
    total: int = 0
    read: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    by_reason: Counter[str] = field(default_factory=Counter)
    samples: list[DeadLetterInfo] = field(default_factory=list)


@dataclass
class RedriveReport:
    topic: str
    redriven: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    dry_run: bool = False


def _dlq_consumer(settings: Settings, group_id: str | None) -> Any:
    return KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        group_id=group_id,
        client_id=client_id("dlq"),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )


def _assign_all(consumer: Any, topic: str) -> list[TopicPartition]:
    partitions = consumer.partitions_for_topic(topic) or set()
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    return tps


def _read_until(
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
    consumer = _dlq_consumer(settings, None)
    try:
        tps = _assign_all(consumer, settings.dlq_topic)
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

        _read_until(consumer, ends, handle, timeout_s=15)
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


def redrive(
    settings: Settings,
    *,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
    timeout_s: float = 30.0,
) -> RedriveReport:
    """Re-produce every dead letter not re-driven yet to the records topic."""
    report = RedriveReport(settings.dlq_topic, dry_run=dry_run)
    group = f"{settings.consumer_group}.dlq-redrive"
    consumer = _dlq_consumer(settings, group)
    producer = None if dry_run else reliable_producer(settings, "redrive")
    try:
        tps = _assign_all(consumer, settings.dlq_topic)
        if not tps:
            return report
        ends = consumer.end_offsets(tps)
        todo = sum(max(0, ends[tp] - consumer.position(tp)) for tp in tps)

        def handle(records: list[Any]) -> None:
            if not records:
                return
            futures = []
            for record in records:
                info = DeadLetterInfo.from_message(record)
                report.by_kind[info.kind] += 1
                if producer is not None:
                    where = f"{record.topic}[{record.partition}]@{record.offset}".encode()
                    headers = original_headers(record.headers) + [(REDRIVEN_FROM_HEADER, where)]
                    futures.append(
                        producer.send(
                            settings.topic, value=record.value, key=record.key, headers=headers
                        )
                    )
            if producer is not None:
                producer.flush(timeout=timeout_s)
                for future in futures:
                    future.get(timeout=0)  # raises if any was not acknowledged
                last = records[-1]
                tp = TopicPartition(last.topic, last.partition)
                consumer.commit({tp: OffsetAndMetadata(last.offset + 1, "", -1)})
            report.redriven += len(records)
            if progress is not None:
                progress(report.redriven, todo)

        _read_until(consumer, ends, handle, timeout_s=timeout_s)
        return report
    finally:
        consumer.close(autocommit=False)
        if producer is not None:
            producer.close(timeout=5)
