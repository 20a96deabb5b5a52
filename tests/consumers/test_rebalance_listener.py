"""Unit tests of the rebalance listener with a fake consumer: it commits what is finished,
never commits lost partitions, and never raises (kafka-python would re-raise it from poll)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.errors import CommitFailedError

from reqtrail.consumers.indexer_loop import IndexerConsumer, _Rebalance
from reqtrail.consumers.observer import NullObserver
from reqtrail.consumers.polling import BatchPoller
from reqtrail.settings import load_settings

TP0, TP1 = TopicPartition("t", 0), TopicPartition("t", 1)


class FakeConsumer:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.commits: list[dict[Any, Any]] = []
        self.seeks: list[tuple[TopicPartition, int]] = []

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))

    def paused(self) -> set[TopicPartition]:
        return set()

    def commit_async(self, offsets: dict[Any, Any]) -> Any:
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})

        async def answer() -> None:
            if self.error is not None:
                raise self.error

        return answer()


def indexer_with(consumer: FakeConsumer) -> IndexerConsumer:
    indexer = IndexerConsumer(load_settings())
    indexer._consumer = consumer
    for tp, finished in ((TP0, 5), (TP1, 3)):
        progress = indexer._tracker.assign(tp.topic, tp.partition)
        progress.start_many(list(range(finished + 2)))
        for offset in range(finished):
            progress.finish(offset)
    return indexer


def test_revoked_partitions_commit_their_finished_positions_only() -> None:
    consumer = FakeConsumer()
    indexer = indexer_with(consumer)
    asyncio.run(_Rebalance(indexer).on_partitions_revoked({TP0}))
    assert consumer.commits == [{TP0: 5}]  # TP1 stays, uncommitted
    assert indexer.stats.commits == 1 and indexer.stats.commit_failures == 0
    assert indexer._tracker.get("t", 0) is None and indexer._tracker.get("t", 1) is not None


def test_lost_partitions_are_dropped_without_a_commit() -> None:
    consumer = FakeConsumer()
    indexer = indexer_with(consumer)
    asyncio.run(_Rebalance(indexer).on_partitions_lost({TP0, TP1}))
    assert consumer.commits == []
    assert indexer._tracker.partitions() == []


@pytest.mark.parametrize("error", [CommitFailedError("rebalanced"), RuntimeError("IO thread")])
def test_a_failed_revocation_commit_is_counted_not_raised(error: BaseException) -> None:
    indexer = indexer_with(FakeConsumer(error))
    asyncio.run(_Rebalance(indexer).on_partitions_revoked({TP0, TP1}))
    assert indexer.stats.commit_failures == 1 and indexer.stats.commits == 0
    assert indexer._tracker.partitions() == []  # revoked all the same


def test_a_partition_given_straight_back_is_read_again_from_its_lowest_unfinished_offset() -> None:
    """kafka-python keeps the fetch position of a partition revoked and reassigned to the
    same member, past the records given up at revocation: the listener seeks back to them."""
    consumer = FakeConsumer()
    indexer = indexer_with(consumer)  # TP0: 0-4 finished, 5-6 in flight; TP1: 3-4 in flight
    asyncio.run(_Rebalance(indexer).on_partitions_revoked({TP0, TP1}))
    asyncio.run(_Rebalance(indexer).on_partitions_assigned({TP0}))
    assert consumer.seeks == [(TP0, 5)]
    asyncio.run(_Rebalance(indexer).on_partitions_revoked({TP0}))  # nothing in flight now
    asyncio.run(_Rebalance(indexer).on_partitions_assigned({TP0, TP1}))
    assert consumer.seeks == [(TP0, 5)]  # TP1 went elsewhere meanwhile: no stale seek


class PartitionHooks(NullObserver):
    """An observer that records what the partition hooks were told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[int], frozenset[int]]] = []

    def partitions_assigned(self, partitions: Sequence[int], owned: frozenset[int]) -> None:
        self.calls.append(("assigned", sorted(partitions), owned))

    def partitions_revoked(self, partitions: Sequence[int], owned: frozenset[int]) -> None:
        self.calls.append(("revoked", sorted(partitions), owned))


def test_observers_hear_each_partition_change_and_what_the_member_then_owns() -> None:
    """Assigned 0 and 1, 0 revoked, 0 given back: each hook names the change and the
    partitions owned after it."""
    hooks = PartitionHooks()
    indexer = IndexerConsumer(load_settings(), observer=hooks)
    consumer = FakeConsumer()
    indexer._consumer = consumer
    indexer._poller = BatchPoller(consumer, indexer._tracker, indexer.settings, lambda: False)
    asyncio.run(_Rebalance(indexer).on_partitions_assigned({TP0, TP1}))
    asyncio.run(_Rebalance(indexer).on_partitions_revoked({TP0}))
    asyncio.run(_Rebalance(indexer).on_partitions_assigned({TP0}))
    assert hooks.calls == [
        ("assigned", [0, 1], frozenset({0, 1})),
        ("revoked", [0], frozenset({1})),
        ("assigned", [0], frozenset({0, 1})),
    ]
