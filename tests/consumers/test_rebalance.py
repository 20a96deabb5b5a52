"""Integration: a rebalance on the real broker, with indexed but not yet committed records.

kafka-python 3 calls the rebalance listener on its IO thread, while the indexer's own
thread is parked in ``poll()``: a blocking ``commit()`` there raises, and whatever the
listener raises comes back out of ``poll()``. These tests hold the periodic commit off
(a 10-minute interval), so that the only commit that can happen is the one made when
partitions are revoked.
"""

from __future__ import annotations

import pytest
from elasticsearch import Elasticsearch

from reqtrail.settings import Settings
from tests.consumers.conftest import (
    committed_total,
    count_docs,
    produce,
    record_values,
    running_indexer,
    wait_for_docs,
    wait_until,
)

pytestmark = pytest.mark.integration

N = 300


def test_revoked_partitions_are_committed_and_the_first_member_keeps_running(
    pipeline: Settings, es: Elasticsearch
) -> None:
    """A second member joins while the first has indexed N records it has not committed:
    the first commits them as its partitions are revoked, and both keep indexing."""
    settings = pipeline.replace(commit_interval_ms=600_000)
    produce(settings, record_values(N, seed=21))
    with running_indexer(settings) as first:
        wait_for_docs(es, settings.index_prefix, N)

        def caught_up() -> bool:
            lag = first.lag()
            return bool(lag) and not any(lag.values())

        wait_until(caught_up, 30, "lag 0")
        assert committed_total(settings) == 0  # nothing committed yet: the interval holds it
        with running_indexer(settings) as second:
            wait_until(second.assigned.is_set, 60, "the second member's partitions")
            wait_until(lambda: committed_total(settings) == N, 30, f"{N} committed offsets")
            # Both members still index: N more records, split between them, arrive.
            produce(settings, record_values(N, seed=22))
            wait_for_docs(es, settings.index_prefix, 2 * N)
            assert first.stats.commit_failures == 0
            assert second.stats.indexed > 0 and first.stats.indexed > N
    assert count_docs(es, settings.index_prefix) == 2 * N
    assert committed_total(settings) == 2 * N  # both committed on their way out
