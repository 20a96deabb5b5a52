"""The indexer loop: Kafka consumer group -> decode -> bulk index -> commit.

The loop writes each bulk request itself and reads the answer only after it has polled
and decoded the next batch, so Elasticsearch indexes while this thread decodes, without a
worker thread competing for the GIL (see consumers.bulk_http). Commits and rebalances:
consumers.membership. While Elasticsearch (or the dead-letter topic) fails, the
partitions are paused and the loop keeps polling, so the consumer stays in the group
without buffering more records; they resume after the retry succeeds. Before it starts,
the loop checks what ``reqtrail setup`` creates (consumers.preflight); its stats line
comes from a thread of its own (consumers.stats, consumers.lag).
"""

from __future__ import annotations

import gc
import logging
import threading
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Any

from kafka import TopicPartition
from kafka.errors import KafkaError

from reqtrail.consumers.bulk_http import BulkTransport
from reqtrail.consumers.bulk_sender import (
    Backoff,
    BulkSender,
    InFlightBulk,
    RetriesAbandoned,
    retry_until_settled,
)
from reqtrail.consumers.clients import (
    indexer_bulk_transport,
    indexer_consumer,
    reliable_producer,
)
from reqtrail.consumers.dlq import DeadLetterWriter
from reqtrail.consumers.documents import DocumentBuilder, bulk_body
from reqtrail.consumers.errors import DeadLetterError, StartupError
from reqtrail.consumers.lag import BrokerLag, Lag, LagProbe
from reqtrail.consumers.membership import GroupMember, _Rebalance
from reqtrail.consumers.observer import IndexerObserver, NullObserver
from reqtrail.consumers.offsets import OffsetTracker, TopicPartitionKey
from reqtrail.consumers.polling import BatchPoller, Polled
from reqtrail.consumers.preflight import check_topics, ensure_read_alias, wait_for_index_setup
from reqtrail.consumers.results import BulkOutcome
from reqtrail.consumers.stats import OK, IndexerStats, StatsReporter
from reqtrail.consumers.timestamps import TimestampWindow
from reqtrail.consumers.types import DeadLetter, Document
from reqtrail.settings import IndexerSettings

__all__ = ["IndexerConsumer", "_Rebalance", "tune_gc_for_throughput"]

log = logging.getLogger("reqtrail.consumer")


class IndexerConsumer(GroupMember):
    """Runs the indexer until ``stop()``; construct, then call ``run()`` (blocking).

    ``run()`` raises StartupError (one line: what to fix) when what ``reqtrail setup``
    creates is missing; it waits for Elasticsearch and Kafka while they are unreachable.
    """

    def __init__(
        self,
        settings: IndexerSettings,
        *,
        transport: BulkTransport | None = None,
        emit_stats: Callable[[str], None] | None = None,
        consumer_overrides: dict[str, Any] | None = None,
        observer: IndexerObserver | None = None,
    ) -> None:
        self.settings = settings
        self.stats = IndexerStats()
        # Metrics, probes and log events (consumers.observer): hooks marked "observer".
        self.observer: IndexerObserver = observer or NullObserver()
        self._lag_probe: LagProbe | None = None
        self.assigned = threading.Event()  # set once the group gave this member partitions
        self.assigned_at: float | None = None  # time.perf_counter() of that first assignment
        self.owned: frozenset[TopicPartition] = frozenset()
        self._stop = threading.Event()
        self._restart: dict[TopicPartitionKey, int] = {}  # revoked partition -> restart offset
        self._transport = transport  # a stand-in for Elasticsearch (benchmarks, tests)
        self._emit_stats = emit_stats or log.info
        self._consumer_overrides = consumer_overrides or {}
        self._tracker = OffsetTracker()
        self._builder = DocumentBuilder(
            settings.index_prefix,
            TimestampWindow.from_settings(settings),
            request_series=self.observer.request_series,
        )
        self._backoff = Backoff(
            settings.retry_backoff_ms / 1000, settings.retry_backoff_max_ms / 1000
        )
        self._in_flight: deque[InFlightBulk] = deque()
        self._max_in_flight = max(1, settings.bulk_in_flight)
        self._consumer: Any = None
        self._next_commit = 0.0

    # -- lifecycle ------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to finish the in-flight batch, commit and return."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        settings = self.settings
        alias_exists: bool | None = True
        if self._transport is None:  # a real node: check what `reqtrail setup` installs there
            alias_exists = wait_for_index_setup(
                settings, self._stop.is_set, self._stop.wait, self._backoff.next_delay
            )
            if alias_exists is None:
                return
        self._backoff.reset()
        transport = self._transport or indexer_bulk_transport(settings)
        self._sender = BulkSender(transport, on_outcome=self._bulk_answered)
        broker_lag = BrokerLag(settings, lambda: self.owned)
        topics = self._until_connected(broker_lag.topics)
        if topics is not None:
            try:
                check_topics(topics, settings)
            except StartupError:
                broker_lag.close()
                raise
            if not alias_exists:
                ensure_read_alias(settings)
        producer = self._until_connected(lambda: reliable_producer(settings, "dlq"))
        consumer = self._until_connected(
            lambda: indexer_consumer(settings, **self._consumer_overrides)
        )
        if topics is None or producer is None or consumer is None:
            for client in (producer, consumer, broker_lag):
                if client is not None:
                    self._close_quietly(client.close)
            return
        self._dlq = DeadLetterWriter(producer, settings.dlq_topic)
        self._consumer = consumer
        self._poller = BatchPoller(
            consumer, self._tracker, settings, self._stop.is_set, on_poll=self.observer.polled
        )
        probe = self._lag_probe = LagProbe(
            broker_lag,
            max(0.5, min(2.5, settings.stats_interval_s / 4)),
            stale_after_s=max(5.0, settings.stats_interval_s),
        )
        reporter = StatsReporter(
            self.stats, settings.stats_interval_s, probe.current, self._emit_stats
        )
        try:
            consumer.subscribe([settings.topic], listener=_Rebalance(self))
            log.info("indexing %s -> %s-*", settings.topic, settings.index_prefix)
            self.stats.set_state(OK)
            probe.start()
            reporter.start()
            while not self.stopping:
                answered = self._oldest_answered if self._in_flight else None
                documents = self._prepare(self._poller.poll_batch(answered))
                body = bulk_body(documents) if documents else b""
                # Start the next bulk (its body built already) as soon as the previous one
                # is answered, before sorting that one's results: Elasticsearch should not
                # wait for this thread.
                oldest = self._take_oldest() if self._in_flight_full() else None
                if documents:
                    self._in_flight.append(self._sender.start(documents, body))
                if oldest is not None:
                    self._settle(oldest)
                    # Its ~1000 documents are freed here, while the next bulk is in
                    # flight, rather than when ``oldest`` is next assigned (~1 ms between
                    # an answer and the next request).
                    oldest = None
                self._commit_when_due()
            while self._in_flight:
                self._settle(self._take_oldest())
            self._commit()
        except RetriesAbandoned as exc:
            log.warning("stopping with unfinished records (%s); they will be redelivered", exc)
            self._commit()
        finally:
            transport.close()
            reporter.stop()
            probe.stop()
            if self.stats.state != "starting":
                probe.probe()  # the last line's lag, as the broker has it now
                reporter.report()
            reporter.close()
            self._close_quietly(broker_lag.close)
            self._close_quietly(consumer.close, autocommit=False)
            self._close_quietly(self._dlq.producer.close, timeout=5)
            log.info("indexer stopped")

    def _bulk_answered(self, outcome: BulkOutcome) -> None:
        self.stats.record_bulk(outcome)
        self.observer.bulk_answered(outcome)  # observer

    def broker_lag(self) -> Lag:
        """Per owned partition, records not yet committed, as the broker last said (raises
        LagUnknown when it has not answered lately; {} before the loop starts). ``lag()``
        is this member's own view instead."""
        return self._lag_probe.current() if self._lag_probe is not None else {}

    def in_flight(self) -> int:
        """Records read from Kafka and not yet indexed or dead-lettered (loop thread)."""
        return self._tracker.in_flight

    def _until_connected(self, connect: Callable[[], Any]) -> Any:
        """``connect()``, retried with backoff while Kafka cannot be reached; None if stopped."""
        while not self.stopping:
            try:
                client = connect()
            except KafkaError as exc:
                delay = self._backoff.next_delay()
                log.error(
                    "Kafka at %s unreachable (%s); retry %d in %.1f s",
                    self.settings.kafka_bootstrap, exc, self._backoff.attempts, delay,
                )  # fmt: skip
                self._stop.wait(delay)
            else:
                self._backoff.reset()
                return client
        return None

    @staticmethod
    def _close_quietly(close: Callable[..., Any], **kwargs: Any) -> None:
        try:
            close(**kwargs)
        except Exception:  # closing must not hide the real error
            log.exception("error while closing")

    def _prepare(self, batch: Polled) -> list[Document]:
        """Decode the batch; dead-letter poison records right away."""
        documents: list[Document] = []
        dead: list[DeadLetter] = []
        for progress, records in batch:
            if progress.revoked:
                continue  # redelivered to the partition's new owner
            docs, poison = self._builder.build_all(records, progress)
            documents.extend(docs)
            dead.extend(poison)
        if dead:
            self._dead_letter(dead)
        return documents

    # -- indexing ----------------------------------------------------------------------------
    def _in_flight_full(self) -> bool:
        """True when no further bulk may start before the oldest one finished."""
        if not self._in_flight:
            return False
        return len(self._in_flight) >= self._max_in_flight or self._oldest_answered()

    def _oldest_answered(self) -> bool:
        """True when the oldest bulk request in flight has its answer (never blocks)."""
        return bool(self._in_flight) and self._in_flight[0].done()

    def _take_oldest(self) -> BulkOutcome:
        """Wait for the oldest bulk request in flight and return its outcome."""
        outcome = self._in_flight[0].result()
        self._in_flight.popleft()
        return outcome

    def _settle(self, outcome: BulkOutcome) -> None:
        """Finish indexed records, retry what must be retried, dead-letter rejections."""
        rejected: list[DeadLetter] = []
        attempts = retry_until_settled(
            outcome,
            self._sender.send,
            self._backoff,
            wait=self._poller.wait_paused,
            wanted=_still_owned,
        )
        for attempt in attempts:
            for document in attempt.indexed:  # hot path: a plain loop, no per-item objects
                progress = document.progress
                if progress is not None:
                    progress.finish(document.message.offset)
            self.observer.indexed(attempt.indexed)  # observer
            for item in attempt.rejected:
                progress = item.document.progress
                if progress is None or not progress.revoked:
                    message = item.document.message
                    rejected.append(DeadLetter(message, "rejected", item.describe(), progress))
        if rejected:
            self._dead_letter(rejected)
        if self._poller.holding:
            self._poller.release()

    def _dead_letter(self, letters: Sequence[DeadLetter]) -> None:
        for letter in letters:
            log.warning("dead letter: %s", letter.describe()[:500])
        while True:
            try:
                self._dlq.write(letters)
                break
            except DeadLetterError as exc:
                self.stats.set_state(f"retrying (dead-letter topic {self._dlq.topic} unwritable)")
                delay = self._backoff.next_delay()
                log.error("%s; retry %d in %.1f s", exc, self._backoff.attempts, delay)
                if not self._poller.wait_paused(delay):
                    raise RetriesAbandoned(str(exc)) from exc
        self._backoff.reset()
        if self.stats.state.startswith("retrying (dead-letter"):
            self.stats.set_state(OK)
        self.stats.record_dead_letters(Counter(letter.kind for letter in letters))
        self.observer.dead_lettered(letters)  # observer
        for letter in letters:
            if letter.progress is not None:
                letter.progress.finish(letter.message.offset)


def tune_gc_for_throughput() -> None:
    """Process-wide, for a process whose job is indexing (``reqtrail consume``).

    Records, documents and Kafka objects are freed by reference counting; the cyclic
    collector's frequent generation-0 passes over a batch worth of live objects cost
    ~15% of the loop's CPU. Freeze what exists after start-up and collect less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _still_owned(document: Document) -> bool:
    return document.progress is None or not document.progress.revoked
