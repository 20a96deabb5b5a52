"""The indexer as a group member: committing finished offsets, and partitions coming and going.

Offsets are committed per partition only up to the highest contiguous finished record
(indexed or dead-lettered), every ``commit_interval_ms``, on revocation and on exit.
kafka-python 3 runs the rebalance listener on its IO thread while the indexer's thread
is parked in ``poll()``: there a blocking ``commit()`` raises, and whatever a listener
raises comes back out of ``poll()``, so the revocation commit is awaited instead and
nothing escapes.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any

from kafka import AsyncConsumerRebalanceListener, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from reqtrail.consumers.bulk_sender import InFlightBulk
from reqtrail.consumers.observer import IndexerObserver
from reqtrail.consumers.offsets import OffsetTracker, TopicPartitionKey
from reqtrail.consumers.polling import BatchPoller
from reqtrail.consumers.stats import IndexerStats
from reqtrail.settings import IndexerSettings

log = logging.getLogger("reqtrail.consumer")

COMMIT_TIMEOUT_MS = 10_000


def _offsets(positions: dict[TopicPartitionKey, int]) -> dict[TopicPartition, OffsetAndMetadata]:
    return {
        TopicPartition(topic, partition): OffsetAndMetadata(position, "", -1)
        for (topic, partition), position in positions.items()
    }


class GroupMember:
    """Commits and rebalance handling of the IndexerConsumer (its base class)."""

    settings: IndexerSettings
    stats: IndexerStats
    observer: IndexerObserver
    assigned: Any  # threading.Event
    assigned_at: float | None
    owned: frozenset[TopicPartition]  # the assignment, replaced whole (read by other threads)
    _consumer: Any
    _tracker: OffsetTracker
    _poller: BatchPoller
    _in_flight: deque[InFlightBulk]
    _restart: dict[TopicPartitionKey, int]
    _next_commit: float

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
        self.observer.committed()  # observer
        return True

    def _commit_failed(self, exc: Exception) -> bool:
        self.stats.commit_failures += 1
        log.warning("offset commit failed (%s); the next commit includes these offsets", exc)
        return False

    # -- rebalances --------------------------------------------------------------------------
    @property
    def owned_partitions(self) -> frozenset[int]:
        """The partitions of the records topic this member owns."""
        return frozenset(tp.partition for tp in self.owned)

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
            self.owned = self.owned.difference(revoked)
        if revoked:
            log.info("partitions revoked: %s", sorted(tp.partition for tp in revoked))
            self.observer.partitions_revoked(  # observer
                [tp.partition for tp in revoked], self.owned_partitions
            )

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
        self.owned = self.owned.union(assigned)
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
            self.observer.partitions_assigned(  # observer
                [tp.partition for tp in assigned], self.owned_partitions
            )

    def lag(self) -> dict[int, int]:
        """Per partition, as this member sees it: highwater - commit position (no request;
        the stats line asks the broker instead, see consumers.lag)."""
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


class _Rebalance(AsyncConsumerRebalanceListener):  # type: ignore[misc]
    """Hands the group's partition changes to the indexer (see the module docstring)."""

    def __init__(self, owner: GroupMember) -> None:
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
