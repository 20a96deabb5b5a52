"""Counters of the indexer, a one-line summary every interval, and a live line on a terminal.

The summary comes from a timer thread of its own, so it appears every interval whatever
the loop is doing (waiting out a backoff, or a bulk request that hangs). It says what
the indexer is doing (``ok``, ``retrying``, ``blocked``, ``ES unreachable``, since when)
and the lag as the broker sees it (consumers.lag), or why the lag is unknown.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TextIO

from reqtrail.consumers.errors import (
    EsThrottledError,
    EsUnreachableError,
    IndexMissingError,
    IndexWriteBlockedError,
)
from reqtrail.consumers.lag import LagUnknown
from reqtrail.consumers.results import BulkOutcome, ItemResult

OK = "ok"


def describe_retry(item: ItemResult) -> str:
    """What a retried item says about Elasticsearch, for the stats line."""
    if item.error is EsUnreachableError:
        return f"ES unreachable ({item.error_type})"
    if item.error is IndexWriteBlockedError:
        return f"blocked (index {item.document.index} refuses writes)"
    if item.error is IndexMissingError:
        return f"blocked (index {item.document.index} missing, auto-create off)"
    if item.error is EsThrottledError or item.status == 429:
        return "retrying (429 throttled)"
    return f"retrying ({item.status} {item.error_type})"


@dataclass
class IndexerStats:
    """Totals since start; a lock because the loop, the rebalance listener and the stats
    thread all touch them."""

    indexed: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)
    bulk_requests: int = 0
    retried_items: Counter[int] = field(default_factory=Counter)  # by HTTP status
    commits: int = 0
    commit_failures: int = 0
    latencies_s: list[float] = field(default_factory=list)  # since the last report
    state: str = "starting"
    state_since: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record_bulk(self, outcome: BulkOutcome) -> None:
        with self._lock:
            self.bulk_requests += 1
            self.indexed += len(outcome.indexed)
            for item in outcome.retry:
                self.retried_items[item.status] += 1
            if len(self.latencies_s) < 100_000:
                self.latencies_s.append(outcome.latency_s)
        self.set_state(describe_retry(outcome.retry[0]) if outcome.retry else OK)

    def record_dead_letters(self, kinds: Mapping[str, int]) -> None:
        with self._lock:
            self.dead_lettered.update(kinds)

    def set_state(self, state: str) -> None:
        """What the indexer is doing; the time it started doing it is kept."""
        if state != self.state:
            self.state, self.state_since = state, time.monotonic()

    @property
    def throttled(self) -> int:
        """Document attempts answered 429 (per item or whole request)."""
        return self.retried_items[429]

    def take_latencies(self) -> list[float]:
        with self._lock:
            taken, self.latencies_s = self.latencies_s, []
        return taken


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class StatsReporter:
    """Emits a stats line every ``interval_s`` (from ``start()``'s thread, or ``tick()``);
    on a TTY also a live progress line. ``lag()`` raises LagUnknown when it cannot tell."""

    def __init__(
        self,
        stats: IndexerStats,
        interval_s: float,
        lag: Callable[[], Mapping[int, int]],
        emit: Callable[[str], None],
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stats = stats
        self.interval_s = interval_s
        self.lag = lag
        self.emit = emit
        self.stream = stream if stream is not None else sys.stderr
        self.live = self.stream.isatty()
        self.clock = clock
        self._last_report = clock()
        self._last_indexed = 0
        self._last_live = 0.0
        self._live_indexed = 0
        self._live_at = clock()
        self._live_rate = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one line at a time: the timer, and the last one

    def start(self) -> StatsReporter:
        """Report from a timer thread until ``close()``."""
        if self.interval_s > 0 or self.live:
            self._thread = threading.Thread(target=self._run, name="reqtrail-stats", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        step = min(0.5, self.interval_s) if self.interval_s > 0 else 0.5
        while not self._stop.wait(step):
            self.tick()

    def tick(self) -> None:
        """Reports when due (the timer thread calls it)."""
        now = self.clock()
        if self.interval_s > 0 and now - self._last_report >= self.interval_s:
            self.report(now)
        if self.live and now - self._last_live >= 0.5:
            self._draw_live(now)

    def report(self, now: float | None = None) -> str:
        with self._lock:
            return self._report(self.clock() if now is None else now)

    def _report(self, now: float) -> str:
        elapsed = max(now - self._last_report, 1e-9)
        stats = self.stats
        indexed = stats.indexed
        rate = (indexed - self._last_indexed) / elapsed
        latencies = stats.take_latencies()
        dlq = sum(stats.dead_lettered.values())
        retried = sum(stats.retried_items.values())
        line = (
            f"indexed {indexed} ({rate:.0f}/s) | {self._state_text()} | "
            f"bulk {len(latencies)} req p50 {_percentile(latencies, 0.5) * 1000:.0f} ms "
            f"max {max(latencies, default=0.0) * 1000:.0f} ms | "
            f"{self._lag_text()} | dlq {dlq} | retried {retried} (429: {stats.throttled})"
        )
        self._last_report = now
        self._last_indexed = indexed
        self._clear_live()
        self.emit(line)
        return line

    def _state_text(self) -> str:
        state = self.stats.state
        if state == OK:
            return state
        return f"{state} for {time.monotonic() - self.stats.state_since:.0f} s"

    def _lag_text(self) -> str:
        try:
            lag = self.lag()
        except LagUnknown as exc:
            return f"lag unknown ({exc})"
        if not lag:
            return "lag - (no partitions assigned)"
        per_partition = " ".join(f"p{p}={n}" for p, n in sorted(lag.items()))
        return f"lag {sum(lag.values())} [{per_partition}]"

    def _draw_live(self, now: float) -> None:
        indexed = self.stats.indexed
        span = now - self._live_at
        if span >= 1.0:
            self._live_rate = (indexed - self._live_indexed) / span
            self._live_indexed, self._live_at = indexed, now
        try:
            lag = f"{sum(self.lag().values()):,}"
        except LagUnknown:
            lag = "?"
        dlq = sum(self.stats.dead_lettered.values())
        with self._lock:
            self.stream.write(
                f"\r\x1b[2K  indexing: {indexed:,} docs  {self._live_rate:,.0f}/s  "
                f"lag {lag}  dlq {dlq:,}  {self.stats.state}"
            )
            self.stream.flush()
        self._last_live = now

    def _clear_live(self) -> None:
        if self.live:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()

    def stop(self) -> None:
        """Stop the timer thread (the caller may then ``report()`` a last time)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)

    def close(self) -> None:
        self.stop()
        self._clear_live()
