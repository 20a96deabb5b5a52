"""Integration: a group join that a short poll interrupted is finished, not forgotten.

A fresh consumer joins before it has its topic's metadata, so the metadata that follows
asks for a second join; polls of a few milliseconds return while that join is in flight
(see reqtrail.consumers.group_join). kafka-python's own consumer, polled this way, ends
with no partitions every time.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from reqtrail.consumers.clients import indexer_consumer
from reqtrail.settings import Settings

pytestmark = pytest.mark.integration

POLL_MS = 5  # the indexer's slice while a bulk request is in flight
WAIT_S = 12.0  # longer than a session timeout: a forgotten join does not come back


def partitions_after_short_polls(consumer: Any, topic: str) -> set[int]:
    """Subscribe, poll in POLL_MS slices for up to WAIT_S; the partitions then held."""
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and len(consumer.assignment()) < 3:
            consumer.poll(timeout_ms=POLL_MS)
        return {tp.partition for tp in consumer.assignment()}
    finally:
        consumer.close(autocommit=False)


@pytest.mark.parametrize("attempt", range(3))
def test_the_indexers_consumer_gets_every_partition_when_polled_in_short_slices(
    pipeline: Settings, attempt: int
) -> None:
    settings = pipeline.replace(consumer_group=f"{pipeline.consumer_group}-{attempt}")
    held = partitions_after_short_polls(indexer_consumer(settings), settings.topic)
    assert held == {0, 1, 2}
