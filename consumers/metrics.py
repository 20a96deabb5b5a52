"""The indexer's Prometheus metrics: an IndexerObserver feeding a prometheus-client registry.

Pipeline metrics (this process's share of the group; Prometheus sums the processes)::

    reqtrail_indexer_records_consumed_total            records polled from Kafka
    reqtrail_indexer_records_indexed_total             records indexed for good
    reqtrail_indexer_records_dead_lettered_total{reason}   undecodable, schema, rejected, ...
    reqtrail_indexer_records_retried_total{reason}     throttled, unavailable, write_blocked, ...
    reqtrail_indexer_bulk_duration_seconds             histogram of bulk request latency
    reqtrail_indexer_commits_total                     offset commits
    reqtrail_indexer_documents_in_flight               read from Kafka, not yet finished
    reqtrail_indexer_consumer_lag{topic,partition}     records not yet committed, per owned
                                                       partition, as the broker has it
    reqtrail_indexer_partitions_assigned               partitions this process owns
    reqtrail_indexer_seconds_since_last_commit         (since start while there was none)
    reqtrail_indexer_seconds_since_last_successful_bulk  (likewise)

and the request metrics of consumers.request_metrics. The loop state the probes read
(consumers.probes) lives here too. Lag and records in flight are sampled on the loop's
thread about once a second (``watch`` says where from), so a scrape never touches the
Kafka consumer.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from reqtrail.consumers.errors import (
    EsThrottledError,
    EsUnavailableError,
    IndexerError,
    IndexMissingError,
    IndexWriteBlockedError,
)
from reqtrail.consumers.lag import LagUnknown
from reqtrail.consumers.request_metrics import DEFAULT_ROUTE_LIMIT, RequestMetrics
from reqtrail.consumers.results import BulkOutcome
from reqtrail.consumers.types import DeadLetter, DeadLetterKind, Document

BULK_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SAMPLE_EVERY_S = 1.0
RETRY_REASONS: dict[type[IndexerError] | None, str] = {
    EsThrottledError: "throttled",
    EsUnavailableError: "unavailable",
    IndexWriteBlockedError: "write_blocked",
    IndexMissingError: "index_missing",
}


def retry_reasons(outcome: BulkOutcome) -> Tally[str]:
    """The outcome's retried documents counted by reason (``RETRY_REASONS``)."""
    return Tally(RETRY_REASONS.get(item.error, "other") for item in outcome.retry)


class IndexerMetrics:
    """Pipeline (and optionally request) metrics of one indexer process, in ``registry``."""

    def __init__(
        self,
        topic: str,
        *,
        request_metrics: bool = True,
        route_limit: int = DEFAULT_ROUTE_LIMIT,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.topic = topic
        self.registry = registry if registry is not None else CollectorRegistry()
        self.clock = clock
        r = self.registry
        self.consumed = Counter(
            "reqtrail_indexer_records_consumed", "Records polled from Kafka.", registry=r
        )
        self.indexed_total = Counter(
            "reqtrail_indexer_records_indexed", "Records indexed in Elasticsearch.", registry=r
        )
        self.dead_lettered_total = Counter(
            "reqtrail_indexer_records_dead_lettered",
            "Records written to the dead-letter topic, by reason.",
            ["reason"],
            registry=r,
        )
        self.retried = Counter(
            "reqtrail_indexer_records_retried",
            "Document attempts Elasticsearch did not take and that are tried again, by reason.",
            ["reason"],
            registry=r,
        )
        self.bulk_duration = Histogram(
            "reqtrail_indexer_bulk_duration_seconds",
            "Latency of bulk requests (first tries and retries).",
            buckets=BULK_BUCKETS_S,
            registry=r,
        )
        # Every known reason starts at 0, so increase() sees the first dead letter too.
        for kind in get_args(DeadLetterKind):
            self.dead_lettered_total.labels(kind)
        for reason in (*RETRY_REASONS.values(), "other"):
            self.retried.labels(reason)
        self.commits = Counter("reqtrail_indexer_commits", "Offset commits to Kafka.", registry=r)
        self.requests = RequestMetrics(route_limit) if request_metrics else None
        if self.requests is not None:
            r.register(self.requests)
        r.register(_LoopStateCollector(self))
        self.started_at = clock()
        self.last_poll_at: float | None = None
        self.last_good_bulk_at: float | None = None
        self.last_commit_at: float | None = None
        self.lag: Mapping[int, int] = {}
        self.in_flight = 0
        self.owned: frozenset[int] = frozenset()  # partitions, replaced whole
        self._lag_source: Callable[[], Mapping[int, int]] = dict
        self._in_flight_source: Callable[[], int] = int
        self._next_sample = 0.0

    def watch(self, lag: Callable[[], Mapping[int, int]], in_flight: Callable[[], int]) -> None:
        """Where the loop's lag (per partition) and records in flight are read (loop thread)."""
        self._lag_source = lag
        self._in_flight_source = in_flight

    # -- IndexerObserver ---------------------------------------------------------------------
    @property
    def request_series(self) -> RequestMetrics | None:
        return self.requests

    def polled(self, records: int) -> None:
        now = self.clock()
        self.last_poll_at = now
        if records:
            self.consumed.inc(records)
        if now >= self._next_sample:
            self._next_sample = now + SAMPLE_EVERY_S
            self.sample()

    def sample(self) -> None:
        """Read lag and records in flight from the loop (call on the loop's thread). A lag
        the broker has not told lately keeps its last value."""
        with contextlib.suppress(LagUnknown):
            self.lag = dict(self._lag_source())
        self.in_flight = self._in_flight_source()

    def bulk_answered(self, outcome: BulkOutcome) -> None:
        self.bulk_duration.observe(outcome.latency_s)
        if outcome.indexed or not outcome.retry:  # Elasticsearch took the request
            self.last_good_bulk_at = self.clock()
        for reason, count in retry_reasons(outcome).items():
            self.retried.labels(reason).inc(count)

    def indexed(self, documents: Sequence[Document]) -> None:
        self.indexed_total.inc(len(documents))
        if self.requests is not None:
            self.requests.observe(documents)

    def dead_lettered(self, letters: Sequence[DeadLetter]) -> None:
        for kind, count in Tally(letter.kind for letter in letters).items():
            self.dead_lettered_total.labels(kind).inc(count)

    def committed(self) -> None:
        self.last_commit_at = self.clock()
        self.commits.inc()

    def partitions_assigned(self, partitions: Sequence[int], owned: frozenset[int]) -> None:
        self.owned = owned

    def partitions_revoked(self, partitions: Sequence[int], owned: frozenset[int]) -> None:
        self.owned = owned

    # -- derived -----------------------------------------------------------------------------
    def seconds_since(self, moment: float | None) -> float:
        """Seconds since ``moment`` (since this process started when None)."""
        return self.clock() - (self.started_at if moment is None else moment)


class _LoopStateCollector(Collector):
    """Gauges read from IndexerMetrics' loop state at scrape time."""

    def __init__(self, metrics: IndexerMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Metric]:
        return list(self._families(with_values=False))

    def collect(self) -> Iterator[Metric]:
        return self._families(with_values=True)

    def _families(self, *, with_values: bool) -> Iterator[Metric]:
        m = self.metrics
        lag = GaugeMetricFamily(
            "reqtrail_indexer_consumer_lag",
            "Records in Kafka not yet indexed, per partition this process owns.",
            labels=["topic", "partition"],
        )
        gauges: dict[str, tuple[str, Callable[[], float]]] = {
            "reqtrail_indexer_documents_in_flight": (
                "Records read from Kafka and not yet indexed or dead-lettered.",
                lambda: float(m.in_flight),
            ),
            "reqtrail_indexer_partitions_assigned": (
                "Partitions of the records topic this process owns.",
                lambda: float(len(m.owned)),
            ),
            "reqtrail_indexer_seconds_since_last_commit": (
                "Seconds since offsets were last committed (since start if never).",
                lambda: m.seconds_since(m.last_commit_at),
            ),
            "reqtrail_indexer_seconds_since_last_successful_bulk": (
                "Seconds since Elasticsearch last took a bulk request (since start if never).",
                lambda: m.seconds_since(m.last_good_bulk_at),
            ),
        }
        if with_values:
            for partition, behind in sorted(dict(m.lag).items()):
                lag.add_metric([m.topic, str(partition)], float(behind))
        yield lag
        for name, (documentation, read) in gauges.items():
            family = GaugeMetricFamily(name, documentation)
            if with_values:
                family.add_metric([], read())
            yield family
