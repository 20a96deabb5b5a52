"""Counters of the indexer, a periodic one-line summary, and a live line on a terminal."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TextIO

from reqtrail.consumers.results import BulkOutcome


@dataclass
class IndexerStats:
    """Totals since start; a lock because the bulk thread and the loop both update them."""

    indexed: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)
    bulk_requests: int = 0
    retried_items: Counter[int] = field(default_factory=Counter)  # by HTTP status
    commits: int = 0
    commit_failures: int = 0
    latencies_s: list[float] = field(default_factory=list)  # since the last report
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record_bulk(self, outcome: BulkOutcome) -> None:
        with self._lock:
            self.bulk_requests += 1
            self.indexed += len(outcome.indexed)
            for item in outcome.retry:
                self.retried_items[item.status] += 1
            if len(self.latencies_s) < 100_000:
                self.latencies_s.append(outcome.latency_s)

    def record_dead_letters(self, kinds: Mapping[str, int]) -> None:
        with self._lock:
            self.dead_lettered.update(kinds)

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
    """Emits a stats line every ``interval_s``; on a TTY also a live progress line."""

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

    def tick(self) -> None:
        """Call often; reports when due."""
        now = self.clock()
        if self.interval_s > 0 and now - self._last_report >= self.interval_s:
            self.report(now)
        if self.live and now - self._last_live >= 0.5:
            self._draw_live(now)

    def report(self, now: float | None = None) -> str:
        now = self.clock() if now is None else now
        elapsed = max(now - self._last_report, 1e-9)
        stats = self.stats
        rate = (stats.indexed - self._last_indexed) / elapsed
        latencies = stats.take_latencies()
        lag = self.lag()
        lag_text = " ".join(f"p{p}={n}" for p, n in sorted(lag.items())) or "-"
        dlq = sum(stats.dead_lettered.values())
        retried = sum(stats.retried_items.values())
        line = (
            f"indexed {stats.indexed} ({rate:.0f}/s) | bulk {len(latencies)} req "
            f"p50 {_percentile(latencies, 0.5) * 1000:.0f} ms "
            f"max {max(latencies, default=0.0) * 1000:.0f} ms | "
            f"lag {sum(lag.values())} [{lag_text}] | dlq {dlq} | "
            f"retried {retried} (429: {stats.throttled})"
        )
        self._last_report = now
        self._last_indexed = stats.indexed
        self._clear_live()
        self.emit(line)
        return line

    def _draw_live(self, now: float) -> None:
        indexed = self.stats.indexed
        span = now - self._live_at
        if span >= 1.0:
            self._live_rate = (indexed - self._live_indexed) / span
            self._live_indexed, self._live_at = indexed, now
        lag = sum(self.lag().values())
        dlq = sum(self.stats.dead_lettered.values())
        self.stream.write(
            f"\r\x1b[2K  indexing: {indexed:,} docs  {self._live_rate:,.0f}/s  "
            f"lag {lag:,}  dlq {dlq:,}"
        )
        self.stream.flush()
        self._last_live = now

    def _clear_live(self) -> None:
        if self.live:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()

    def close(self) -> None:
        self._clear_live()
