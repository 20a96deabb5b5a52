"""The indexer loop: Kafka consumer group -> decode -> bulk index -> commit.

The loop writes each bulk request itself and reads the answer only after it has polled
and decoded the next batch, so Elasticsearch indexes while this thread decodes, without a
worker thread competing for the GIL (see consumers.bulk_http). Offsets are committed per
partition only up to the highest contiguous finished record (indexed or dead-lettered),
every ``commit_interval_ms``, on revocation and on exit. While Elasticsearch (or the
dead-letter topic) fails, the partitions are paused and the loop keeps polling, so the
consumer stays in the group without buffering more records; they resume after the retry
succeeds.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Any

from kafka import AsyncConsumerRebalanceListener, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from reqtrail.consumers.bulk_http import HttpBulkTransport
from reqtrail.consumers.clients import indexer_bulk_client, indexer_consumer, reliable_producer
from reqtrail.consumers.dlq import DeadLetterWriter
from reqtrail.consumers.documents import DocumentBuilder, bulk_body
from reqtrail.consumers.errors import DeadLetterError
from reqtrail.consumers.indexer import (
    Backoff,
    BulkClient,
    BulkSender,
    InFlightBulk,
    RetriesAbandoned,
    retry_until_settled,
)
from reqtrail.consumers.offsets import OffsetTracker, TopicPartitionKey
from reqtrail.consumers.polling import BatchPoller, Polled
from reqtrail.consumers.results import BulkOutcome
from reqtrail.consumers.stats import IndexerStats, StatsReporter
from reqtrail.consumers.types import DeadLetter, Document
from reqtrail.settings import Settings

log = logging.getLogger("reqtrail.consumer")

COMMIT_TIMEOUT_MS = 10_000


def _offsets(positions: dict[TopicPartitionKey, int]) -> dict[TopicPartition, OffsetAndMetadata]:
    return {
        TopicPartition(topic, partition): OffsetAndMetadata(position, "", -1)
        for (topic, partition), position in positions.items()
    }


class _Rebalance(AsyncConsumerRebalanceListener):  # type: ignore[misc]
    """Hands the group's partition changes to the indexer.

    kafka-python 3 runs these on its IO thread, while the indexer's thread is parked in
    ``poll()`` (so they may touch the indexer's state). There, a blocking consumer call
    such as ``commit()`` raises, and whatever a listener raises comes back out of
    ``poll()``: the revocation commit is awaited instead, and nothing escapes.
    """

    def __init__(self, owner: IndexerConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.owner._on_revoked(list(revoked), commit=True)

    async def on_partitions_lost(self, lost: Any) -> None:
        # Evicted from the group: the partitions have new owners and a commit would be
        # refused. Their unfinished records are redelivered to those owners.
        await self.owner._on_revoked(list(lost), commit=False)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        try:
            self.owner._on_assigned(list(assigned))
        except Exception:
            log.exception("handling assigned partitions failed")


class IndexerConsumer:
    """Runs the indexer until ``stop()``; construct, then call ``run()`` (blocking)."""

    def __init__(
        self,
        settings: Settings,
        *,
        es: BulkClient | HttpBulkTransport | None = None,
        emit_stats: Callable[[str], None] | None = None,
        consumer_overrides: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.stats = IndexerStats()
        self.assigned = threading.Event()  # set once the group gave this member partitions
        self.assigned_at: float | None = None  # time.perf_counter() of that first assignment
        self._stop = threading.Event()
        self._restart: dict[TopicPartitionKey, int] = {}  # revoked partition -> restart offset
        self._es = es
        self._emit_stats = emit_stats or log.info
        self._consumer_overrides = consumer_overrides or {}
        self._tracker = OffsetTracker()
        self._builder = DocumentBuilder(settings.index_prefix)
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
        es: BulkClient | HttpBulkTransport
        owned = None  # the bulk client this run made, and closes
        if self._es is None:
            es = owned = indexer_bulk_client(settings)
        else:
            es = self._es
        self._sender = BulkSender(es, on_outcome=self.stats.record_bulk)
        producer = self._until_connected(lambda: reliable_producer(settings, "dlq"))
        consumer = self._until_connected(
            lambda: indexer_consumer(settings, **self._consumer_overrides)
        )
        if producer is None or consumer is None:
            for client in (producer, consumer):
                if client is not None:
                    self._close_quietly(client.close)
            return
        self._dlq = DeadLetterWriter(producer, settings.dlq_topic)
        self._consumer = consumer
        self._poller = BatchPoller(consumer, self._tracker, settings, self._stop.is_set)
        reporter = StatsReporter(self.stats, settings.stats_interval_s, self.lag, self._emit_stats)
        try:
            consumer.subscribe([settings.topic], listener=_Rebalance(self))
            log.info("indexing %s -> %s-*", settings.topic, settings.index_prefix)
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
                reporter.tick()
            while self._in_flight:
                self._settle(self._take_oldest())
            self._commit()
        except RetriesAbandoned as exc:
            log.warning("stopping with unfinished records (%s); they will be redelivered", exc)
            self._commit()
        finally:
            if owned is not None:
                owned.close()
            reporter.report()
            reporter.close()
            self._close_quietly(consumer.close, autocommit=False)
            self._close_quietly(self._dlq.producer.close, timeout=5)
            log.info("indexer stopped")

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
                delay = self._backoff.next_delay()
                log.error("%s; retry %d in %.1f s", exc, self._backoff.attempts, delay)
                if not self._poller.wait_paused(delay):
                    raise RetriesAbandoned(str(exc)) from exc
        self._backoff.reset()
        self.stats.record_dead_letters(Counter(letter.kind for letter in letters))
        for letter in letters:
            if letter.progress is not None:
                letter.progress.finish(letter.message.offset)

    # -- offsets -----------------------------------------------------------------------------
    def _commit_when_due(self) -> None:
        now = time.monotonic()
        if now >= self._next_commit:
            self._commit()
            self._next_commit = now + self.settings.commit_interval_ms / 1000

    def _commit(self) -> bool:
        """Commit every partition's finished position that moved (blocking)."""
        positions = self._tracker.to_commit()
        if not positions:
            return True
        try:
            self._consumer.commit(offsets=_offsets(positions), timeout_ms=COMMIT_TIMEOUT_MS)
        except KafkaError as exc:
            return self._commit_failed(exc)
        return self._committed(positions)

    def _committed(self, positions: dict[TopicPartitionKey, int]) -> bool:
        self._tracker.mark_committed(positions)
        self.stats.commits += 1
        return True

    def _commit_failed(self, exc: Exception) -> bool:
        self.stats.commit_failures += 1
        log.warning("offset commit failed (%s); the next commit includes these offsets", exc)
        return False

    async def _on_revoked(self, revoked: list[Any], *, commit: bool) -> None:
        """Before partitions go: finish the in-flight bulks' indexed records, commit them.

        Runs on kafka-python's IO thread (see _Rebalance) and never raises. Waiting for a
        bulk's answer holds that thread (and heartbeats) for at most one bulk request.
        """
        try:
            self._finish_in_flight()
            if commit:
                await self._commit_revoked(revoked)
        except Exception:
            self.stats.commit_failures += 1
            log.exception("committing revoked partitions failed; their records are redelivered")
        finally:
            for tp in revoked:
                progress = self._tracker.revoke(tp.topic, tp.partition)
                offset = progress.restart_offset if progress is not None else None
                if offset is not None:
                    self._restart[(tp.topic, tp.partition)] = offset
        if revoked:
            log.info("partitions revoked: %s", sorted(tp.partition for tp in revoked))

    def _finish_in_flight(self) -> None:
        for bulk in list(self._in_flight):
            try:
                for document in bulk.result().indexed:
                    if document.progress is not None:
                        document.progress.finish(document.message.offset)
            except Exception:
                log.exception("in-flight bulk failed during rebalance")

    async def _commit_revoked(self, revoked: list[Any]) -> None:
        keys = {(tp.topic, tp.partition) for tp in revoked}
        positions = {k: v for k, v in self._tracker.to_commit().items() if k in keys}
        if not positions:
            return
        try:
            # The non-blocking commit, awaited on the IO thread: heartbeats go on meanwhile.
            # (With no coordinator known, its future is the lookup's, and the commit may still
            # be on its way: harmless, as these partitions leave the tracker right after.)
            await self._consumer.commit_async(offsets=_offsets(positions))
        except KafkaError as exc:
            self._commit_failed(exc)
        else:
            self._committed(positions)

    def _on_assigned(self, assigned: list[Any]) -> None:
        # A partition revoked and given straight back keeps kafka-python's fetch position,
        # past the records that were in flight and given up at revocation (their retries
        # are dropped): read them again from the lowest unfinished offset.
        restart, self._restart = self._restart, {}
        for tp in assigned:
            self._tracker.assign(tp.topic, tp.partition)
            offset = restart.get((tp.topic, tp.partition))
            if offset is not None:
                self._consumer.seek(tp, offset)
                log.info(
                    "partition %d came back: reading again from offset %d", tp.partition, offset
                )
        self._poller.on_assigned(assigned)
        if assigned:
            if self.assigned_at is None:
                self.assigned_at = time.perf_counter()
            self.assigned.set()
            log.info("partitions assigned: %s", sorted(tp.partition for tp in assigned))

    def lag(self) -> dict[int, int]:
        """Per partition: records in Kafka not yet indexed (highwater - commit position)."""
        consumer = self._consumer
        result: dict[int, int] = {}
        if consumer is None:
            return result
        for progress in self._tracker.partitions():
            tp = TopicPartition(progress.topic, progress.partition)
            try:
                highwater = consumer.highwater(tp)
                position = progress.position
                if position is None:
                    position = consumer.position(tp, timeout_ms=0)
            except Exception:  # not yet known: no fetch happened
                continue
            if highwater is not None and position is not None:
                result[progress.partition] = max(0, highwater - position)
        return result


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
