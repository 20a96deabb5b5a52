"""``reqtrail dlq redrive``: re-produce dead letters to the records topic, all or a chosen few.

Each dead letter is re-produced with its original bytes, key and headers, and re-driven
once. The re-drive group's committed offset per DLQ partition marks every dead letter
before it as done. A filtered re-drive (``--kind``, ``--reason``, ``--since``,
``--limit``) leaves the others where they are: the offsets it re-drove beyond the
committed one travel as ranges in the commit's metadata, so a later re-drive, filtered or
not, skips them and still finds the ones left behind.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata

from reqtrail.consumers.clients import reliable_producer
from reqtrail.consumers.dlq import DeadLetterInfo, original_headers
from reqtrail.consumers.dlq_admin import assign_all, dlq_consumer, read_until, require_topic
from reqtrail.settings import Settings

REDRIVEN_FROM_HEADER = "reqtrail.redriven_from"
# Kafka refuses commit metadata over offset.metadata.max.bytes (4096 by default).
METADATA_MAX_CHARS = 3500


@dataclass(frozen=True)
class RedriveFilter:
    """Which dead letters to re-drive; the empty filter takes every one."""

    kinds: frozenset[str] = frozenset()
    reason: str = ""  # a substring of the reason, any case
    since: datetime | None = None  # dead-lettered at or after
    limit: int | None = None  # re-drive at most this many

    def matches(self, info: DeadLetterInfo, dlq_timestamp_ms: int) -> bool:
        if self.kinds and info.kind not in self.kinds:
            return False
        if self.reason and self.reason.lower() not in info.reason.lower():
            return False
        return self.since is None or _failed_at(info, dlq_timestamp_ms) >= self.since

    def describe(self) -> str:
        parts = [f"--kind {kind}" for kind in sorted(self.kinds)]
        if self.reason:
            parts.append(f"--reason {self.reason!r}")
        if self.since is not None:
            parts.append(f"--since {self.since.isoformat(timespec='seconds')}")
        return " ".join(parts) or "none"


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """A duration back from now (``90m``, ``24h``, ``7d``) or an ISO 8601 time (UTC if naive)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text.lower())
    if match:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
        back = timedelta(**{unit[match[2]]: float(match[1])})
        return (now or datetime.now(UTC)) - back
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since is neither a duration (24h, 7d) nor an ISO time: {text!r}"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _failed_at(info: DeadLetterInfo, dlq_timestamp_ms: int) -> datetime:
    try:
        return datetime.fromisoformat(info.failed_at)
    except ValueError:
        return datetime.fromtimestamp(dlq_timestamp_ms / 1000, UTC)


@dataclass
class RedriveReport:
    """What a re-drive did: re-driven by kind, and what it left for a later one, by why."""

    topic: str
    redriven: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)  # "filter", "limit", "full"
    earlier: int = 0  # re-driven by an earlier filtered run
    dry_run: bool = False


class OffsetRanges:
    """A set of offsets kept as sorted, merged ``[first, last]`` ranges; text ``"3-7,9"``."""

    def __init__(self, ranges: Iterable[tuple[int, int]] = ()) -> None:
        self.ranges: list[list[int]] = [[a, b] for a, b in sorted(ranges)]

    @classmethod
    def parse(cls, text: str) -> OffsetRanges:
        ranges: list[tuple[int, int]] = []
        for part in filter(None, (text or "").split(",")):
            first, _, last = part.partition("-")
            try:
                ranges.append((int(first), int(last or first)))
            except ValueError:
                return cls()  # not ours: start afresh from the committed offset
        return cls(ranges)

    def __contains__(self, offset: int) -> bool:
        return any(a <= offset <= b for a, b in self.ranges)

    def add(self, offset: int) -> None:
        for r in self.ranges:
            if r[0] - 1 <= offset <= r[1] + 1:
                r[0], r[1] = min(r[0], offset), max(r[1], offset)
                break
        else:
            self.ranges.append([offset, offset])
        self.ranges.sort()
        merged: list[list[int]] = []
        for r in self.ranges:
            if merged and r[0] <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], r[1])
            else:
                merged.append(r)
        self.ranges = merged

    def advance(self, committed: int) -> int:
        """The new committed offset: ``committed`` moved past the ranges that start there
        (those leave the set)."""
        while self.ranges and self.ranges[0][0] <= committed:
            committed = max(committed, self.ranges.pop(0)[1] + 1)
        return committed

    def text(self) -> str:
        return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in self.ranges)


def redrive(
    settings: Settings,
    *,
    chosen: RedriveFilter | None = None,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
    timeout_s: float = 30.0,
) -> RedriveReport:
    """Re-produce the dead letters that ``chosen`` matches and no run re-drove yet."""
    consumer = dlq_consumer(settings, f"{settings.consumer_group}.dlq-redrive")
    producer = None
    try:
        require_topic(consumer, settings, "dlq_topic")
        require_topic(consumer, settings, "topic")
        producer = None if dry_run else reliable_producer(settings, "redrive")
        run = _Redrive(settings, consumer, producer, chosen or RedriveFilter(), timeout_s)
        run.report.dry_run = dry_run
        ends = consumer.end_offsets(run.tps)
        todo = sum(max(0, ends[tp] - run.state[tp][0]) for tp in run.tps)

        def handle(records: list[Any]) -> None:
            run.handle(records)
            if progress is not None:
                progress(run.seen, todo)

        read_until(consumer, ends, handle, timeout_s=timeout_s)
        return run.report
    finally:
        consumer.close(autocommit=False)
        if producer is not None:
            producer.close(timeout=5)


class _Redrive:
    """One re-drive: per DLQ partition, the committed offset and the offsets re-driven
    beyond it; ``handle`` takes one partition's records at a time."""

    def __init__(
        self,
        settings: Settings,
        consumer: Any,
        producer: Any,
        chosen: RedriveFilter,
        timeout_s: float,
    ) -> None:
        self.settings = settings
        self.consumer = consumer
        self.producer = producer  # None: a dry run
        self.chosen = chosen
        self.timeout_s = timeout_s
        self.report = RedriveReport(settings.dlq_topic)
        self.seen = 0
        self.full: set[TopicPartition] = set()
        self.tps = assign_all(consumer, settings.dlq_topic)
        self.state: dict[TopicPartition, tuple[int, OffsetRanges]] = {}
        for tp in self.tps:
            committed = consumer.committed(tp, metadata=True)
            if committed is None:
                consumer.seek_to_beginning(tp)
                self.state[tp] = (consumer.position(tp), OffsetRanges())
            else:
                consumer.seek(tp, committed.offset)
                self.state[tp] = (committed.offset, OffsetRanges.parse(committed.metadata))

    def handle(self, records: list[Any]) -> None:
        if not records:
            return
        tp = TopicPartition(records[0].topic, records[0].partition)
        committed, done = self.state[tp]
        futures = [self._one(record, tp, committed, done) for record in records]
        self.seen += len(records)
        if self.producer is None:
            return
        self.producer.flush(timeout=self.timeout_s)
        for future in futures:
            if future is not None:
                future.get(timeout=0)  # raises if any was not acknowledged
        committed = done.advance(committed)
        self.consumer.commit({tp: OffsetAndMetadata(committed, done.text(), -1)})
        self.state[tp] = (committed, done)

    def _one(self, record: Any, tp: TopicPartition, committed: int, done: OffsetRanges) -> Any:
        """Re-drive ``record`` if chosen; its send future, or None."""
        report, chosen = self.report, self.chosen
        if record.offset in done:
            report.earlier += 1
            return None
        info = DeadLetterInfo.from_message(record)
        if not chosen.matches(info, record.timestamp):
            report.skipped["filter"] += 1
            return None
        if chosen.limit is not None and report.redriven >= chosen.limit:
            report.skipped["limit"] += 1
            return None
        # Past 40 ranges the metadata text may near Kafka's limit: measure it.
        if tp in self.full or (len(done.ranges) > 40 and not _fits(done, committed, record.offset)):
            self.full.add(tp)
            report.skipped["full"] += 1
            return None
        done.add(record.offset)
        report.by_kind[info.kind] += 1
        report.redriven += 1
        if self.producer is None:
            return None
        where = f"{record.topic}[{record.partition}]@{record.offset}".encode()
        headers = original_headers(record.headers) + [(REDRIVEN_FROM_HEADER, where)]
        return self.producer.send(
            self.settings.topic, value=record.value, key=record.key, headers=headers
        )


def _fits(done: OffsetRanges, committed: int, offset: int) -> bool:
    """Whether ``offset`` can join ``done`` without outgrowing the commit metadata."""
    trial = OffsetRanges([(a, b) for a, b in done.ranges])
    trial.add(offset)
    trial.advance(committed)
    return len(trial.text()) <= METADATA_MAX_CHARS
