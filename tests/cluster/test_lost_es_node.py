"""Elasticsearch cluster: the node holding the most primaries is killed (-9) while indexing.

3 nodes, daily indices with 3 shards and 1 replica (the automatic choice on a cluster).
The indexer keeps running on the same process and transport: it sets the dead node aside,
its replicas are promoted, and exactly N documents end up indexed.
"""

from __future__ import annotations

import time

import pytest

from reqtrail.consumers.bulk_http import HttpBulkTransport
from reqtrail.consumers.documents import DocumentBuilder
from reqtrail.consumers.indexer import Backoff, BulkSender, settle
from reqtrail.consumers.setup import ensure_index_template, ensure_topics, remove_all
from reqtrail.consumers.types import Document, Message
from reqtrail.es import es_client
from reqtrail.settings import Settings
from tests.cluster.helpers import node_holding_most_primaries
from tests.conftest import LocalCluster
from tests.consumers.conftest import (
    committed_total,
    count_docs,
    dead_letters,
    produce,
    record_values,
    running_indexer,
    wait_for_docs,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RECORDS = 24_000
IN_FLIGHT = 5_000  # documents of the bulk request that is under way when its node dies


def test_es_node_loss_keeps_indexing_exactly_once(
    cluster: LocalCluster, settings: Settings
) -> None:
    """kill -9 of the node with the most primaries while the indexer runs: a bulk written
    to it and never answered is sent again to another node, the indexer carries on without
    a restart, and exactly N documents are indexed, none dead-lettered."""
    stack = cluster.stack()
    local = cluster.settings_for(settings).replace(
        topic_partitions=6,
        index_shards=3,
        batch_size=500,
        retry_backoff_ms=100,
        retry_backoff_max_ms=2000,
        stats_interval_s=5,
    )
    ensure_topics(local)
    template = ensure_index_template(local)
    assert template["template"]["settings"]["index"]["number_of_replicas"] == 1
    values = record_values(RECORDS, seed=23)
    es = es_client(local)  # retries once per other node: it moves past the dead one
    transport = HttpBulkTransport.from_settings(local)
    try:
        produce(local, values[: RECORDS // 2])
        with running_indexer(local, es=transport) as indexer:
            wait_until(lambda: count_docs(es, local.index_prefix) >= 2000, 120, "indexing")
            es.cluster.health(index=f"{local.index_prefix}-*", wait_for_status="green")
            victim, held = node_holding_most_primaries(stack, es, local.index_prefix)

            # A bulk request of our own is written to the victim, which dies before answering.
            others = [node.url for node in stack.es_nodes if node is not victim]
            probe = HttpBulkTransport([victim.url, *others], randomize_nodes=False)
            builder = DocumentBuilder(local.index_prefix)
            documents = [builder.build(Message(local.topic, 0, i, v)) for i, v in enumerate(values)]
            same_ids = [d for d in documents[:IN_FLIGHT] if isinstance(d, Document)]
            in_flight = BulkSender(probe).start(same_ids)
            killed_at = time.monotonic()
            victim.kill()
            broken = in_flight.result()
            assert not broken.indexed and len(broken.retry) == len(same_ids), "it answered"
            assert probe.nodes.failures[victim.url] == 1
            health = es.cluster.health(index=f"{local.index_prefix}-*", wait_for_status="yellow")
            assert health["status"] != "red"
            promoted_after = time.monotonic() - killed_at
            resent = list(settle(broken, BulkSender(probe).send, Backoff(0.1, 2.0)))
            assert len(resent) == len(same_ids) and all(ok for ok, _item in resent)
            assert probe.nodes.sent[victim.url] == probe.nodes.failures[victim.url]
            probe.close()

            produce(local, values[RECORDS // 2 :])  # the same indexer indexes these
            wait_for_docs(es, local.index_prefix, RECORDS, timeout_s=240)
            wait_until(lambda: committed_total(local) == RECORDS, 60, "every offset committed")
            assert transport.nodes.failures[victim.url] >= 1, "the indexer never noticed"
            retried = sum(indexer.stats.retried_items.values())
        assert count_docs(es, local.index_prefix) == RECORDS
        assert dead_letters(local) == []
        print(
            f"\nkilled {victim.name} (it held {held} primaries; every shard had a live "
            f"primary {promoted_after:.1f} s later); the indexer sent "
            f"{dict(transport.nodes.sent)} bulk requests per node, saw "
            f"{dict(transport.nodes.failures)} connection failures, retried {retried} items"
        )
    finally:
        es.close()
        remove_all(local)
