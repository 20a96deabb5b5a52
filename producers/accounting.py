"""What the sink counts: records produced, delivered and dropped (by reason), spilled.

``produced == delivered + dropped`` once nothing is held any more (after ``flush()``
returned True, or after ``close()``); every drop has one reason:

* ``buffer_full``: ``REQTRAIL_BUFFER_SIZE`` records were already held (Kafka slow or away);
* ``delivery_timeout``: Kafka did not acknowledge it within ``REQTRAIL_KAFKA_DELIVERY_TIMEOUT_MS``;
* ``too_large``: the broker or the client refused its size (the pipeline cuts bodies so that
  records fit ``REQTRAIL_KAFKA_MAX_REQUEST_SIZE``; this counts what still did not);
* ``producer_reset``: held by a producer the watchdog replaced (it had stopped delivering);
* ``shutdown``: still held when the server stopped and the bounded flush ran out;
* ``kafka_error``: any other failure reported by kafka-python.

Drops are logged as one summary line at most every ``DROP_LOG_EVERY_S`` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

from kafka import errors as kafka_errors

from reqtrail.producers.spill import SpillFile

log = logging.getLogger("reqtrail.producers")

BUFFER_FULL = "buffer_full"
DELIVERY_TIMEOUT = "delivery_timeout"
TOO_LARGE = "too_large"
PRODUCER_RESET = "producer_reset"
SHUTDOWN = "shutdown"
KAFKA_ERROR = "kafka_error"
DROP_REASONS = (BUFFER_FULL, DELIVERY_TIMEOUT, TOO_LARGE, PRODUCER_RESET, SHUTDOWN, KAFKA_ERROR)

DROP_LOG_EVERY_S = 10.0

_TOO_LARGE_ERRORS = (kafka_errors.MessageSizeTooLargeError, kafka_errors.RecordListTooLargeError)


class Refused(Exception):
    """A Kafka client refused a record; ``reason`` is its drop reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def drop_reason(exc: BaseException) -> str:
    """The drop reason for a failed send (the exception kafka-python gave, or ``Refused``)."""
    if isinstance(exc, Refused):
        return exc.reason
    if isinstance(exc, kafka_errors.KafkaTimeoutError):
        return DELIVERY_TIMEOUT
    if isinstance(exc, _TOO_LARGE_ERRORS):
        return TOO_LARGE
    return KAFKA_ERROR


@dataclass(frozen=True)
class SinkStats:
    produced: int
    delivered: int
    dropped: int
    spilled: int
    queued: int
    in_flight: int
    connected: bool
    dropped_by_reason: dict[str, int] = field(default_factory=dict)
    producer_resets: int = 0


def describe_drops(by_reason: Counter[str] | dict[str, int]) -> str:
    """``"delivery_timeout 12, buffer_full 3"`` (largest first)."""
    items = sorted(((n, r) for r, n in by_reason.items() if n), reverse=True)
    return ", ".join(f"{reason} {n}" for n, reason in items)


class DropLog:
    """Collects drops and logs them as one line at most every ``every_s`` seconds."""

    def __init__(self, spill_path: str, every_s: float = DROP_LOG_EVERY_S) -> None:
        self.spill_path = spill_path
        self.every_s = every_s
        self._lock = threading.Lock()
        self._since_last: Counter[str] = Counter()
        self._last_logged = 0.0

    def note(self, reason: str, count: int) -> None:
        with self._lock:
            self._since_last[reason] += count

    def maybe_log(self, now: float | None = None) -> None:
        """Log the drops since the last line, if any and if the interval has passed."""
        now = time.monotonic() if now is None else now
        if not self._since_last or now - self._last_logged < self.every_s:
            return
        with self._lock:
            counts, self._since_last = self._since_last, Counter()
        self._last_logged = now
        where = (
            f"spilled to {self.spill_path} (resend with `reqtrail resend-spill`)"
            if self.spill_path
            else "not spilled (REQTRAIL_SPILL_PATH is empty)"
        )
        log.warning(
            "reqtrail: dropped %d records (%s); %s",
            sum(counts.values()),
            describe_drops(counts),
            where,
        )


class Ledger:
    """The sink's counters, and the dropped records waiting to be spilled.

    Shares the sink's lock (``put`` counts and queues a record atomically).  At most
    ``capacity`` dropped records wait for the spill file; beyond that they are counted only.
    """

    def __init__(self, spill_path: str, capacity: int, lock: threading.RLock) -> None:
        self.spill_path = spill_path
        self.capacity = capacity
        self.lock = lock
        self.produced = self.delivered = self.dropped = self.spilled = 0
        self.by_reason: Counter[str] = Counter()
        self.producer_resets = 0
        self._spill = SpillFile(spill_path) if spill_path else None
        self._to_spill: deque[bytes] = deque()
        self.drops = DropLog(spill_path)

    def settled(self) -> bool:
        """Every record produced so far is delivered or dropped (counted, not in hand)."""
        with self.lock:
            return self.produced == self.delivered + self.dropped

    def deliver(self, count: int) -> None:
        with self.lock:
            self.delivered += count

    def drop(self, reason: str, payloads: list[bytes]) -> None:
        with self.lock:
            self.dropped += len(payloads)
            self.by_reason[reason] += len(payloads)
            if self._spill is not None and len(self._to_spill) < self.capacity:
                self._to_spill.extend(payloads)
        self.drops.note(reason, len(payloads))

    def write_spill(self) -> None:
        """Append the waiting dropped records to the spill file."""
        if self._spill is None or not self._to_spill:
            return
        batch: list[bytes] = []
        while self._to_spill:
            batch.append(self._to_spill.popleft())
        written = self._spill.append(batch)
        with self.lock:
            self.spilled += written

    def stats(self, queued: int, in_flight: int, connected: bool) -> SinkStats:
        with self.lock:
            return SinkStats(
                produced=self.produced,
                delivered=self.delivered,
                dropped=self.dropped,
                spilled=self.spilled,
                queued=queued,
                in_flight=in_flight,
                connected=connected,
                dropped_by_reason=dict(self.by_reason),
                producer_resets=self.producer_resets,
            )


def summary_line(stats: SinkStats, why: str, spill_path: str) -> str:
    """The one line logged when the sink stops."""
    drops = describe_drops(stats.dropped_by_reason)
    line = (
        f"reqtrail: {why}: produced {stats.produced}, delivered {stats.delivered}, "
        f"dropped {stats.dropped}{f' ({drops})' if drops else ''}, spilled {stats.spilled}"
    )
    if stats.spilled and spill_path:
        line += f" to {spill_path}"
    held = stats.queued + stats.in_flight
    if held:
        line += f", {held} still held"
    return line
