"""Elasticsearch cluster: the node holding the most primaries is killed (-9) while indexing.

3 nodes, daily indices with 3 shards and 1 replica (the automatic choice on a cluster).
The indexer keeps running in the same process with the same client: a bulk on its way to
the dying node is sent again to another one, the dead node is set aside, its replicas are
promoted, and exactly N documents end up indexed.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from elasticsearch.serializer import OrjsonSerializer

from reqtrail.consumers.documents import DocumentBuilder, bulk_body
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
IN_FLIGHT = 10_000  # documents of the bulk request that is under way when its node dies


def set_aside(caplog: pytest.LogCaptureFixture, url: str, thread: str) -> list[str]:
    """elastic-transport's lines, from ``thread``, saying that the node at ``url`` failed."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "elastic_transport.node_pool"
        and r.threadName == thread
        and url in r.getMessage()
        and "has failed" in r.getMessage()
    ]


def test_es_node_loss_keeps_indexing_exactly_once(
    cluster: LocalCluster, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """kill -9 of the node with the most primaries while the indexer runs: a bulk on its way
    to it is sent again to another node, the indexer sets the node aside and carries on
    without a restart, and exactly N documents are indexed, none dead-lettered."""
    caplog.set_level(logging.WARNING, logger="elastic_transport.node_pool")
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
    es = es_client(local)  # retries on the other nodes: the test's reads move past the dead one
    try:
        produce(local, values[: RECORDS // 2])
        with running_indexer(local) as indexer:
            wait_until(lambda: count_docs(es, local.index_prefix) >= 2000, 120, "indexing")
            es.cluster.health(index=f"{local.index_prefix}-*", wait_for_status="green")
            victim, held = node_holding_most_primaries(stack, es, local.index_prefix)

            # A bulk of our own (same _ids as the indexer's) is on its way to the victim.
            others = [node.url for node in stack.es_nodes if node is not victim]
            probe = Elasticsearch(  # as the indexer's client, but starting with the victim
                [victim.url, *others],
                randomize_nodes_in_pool=False,
                max_retries=2,
                retry_on_status=(),
                retry_on_timeout=False,
                request_timeout=120,
                serializer=OrjsonSerializer(),
            )
            builder = DocumentBuilder(local.index_prefix)
            same_ids = [
                doc
                for i, value in enumerate(values[:IN_FLIGHT])
                if isinstance(doc := builder.build(Message(local.topic, 0, i, value)), Document)
            ]
            answer: dict[str, Any] = {}

            def send() -> None:
                try:
                    answer["body"] = probe.bulk(
                        operations=bulk_body(same_ids), filter_path="errors"
                    )
                except Exception as exc:  # surfaced below
                    answer["error"] = exc

            sending = threading.Thread(target=send, name="probe")
            sending.start()
            time.sleep(0.1)  # written, and being indexed
            killed_at = time.monotonic()
            victim.kill()
            health = es.cluster.health(  # the node has left, and no shard lacks a primary
                index=f"{local.index_prefix}-*", wait_for_nodes="2", wait_for_status="yellow"
            )
            promoted_after = time.monotonic() - killed_at
            assert health["status"] != "red"
            sending.join(timeout=180)
            probe.close()
            assert "error" not in answer and answer["body"]["errors"] is False, answer
            assert set_aside(caplog, victim.url, "probe"), "the bulk was answered before the kill"

            produce(local, values[RECORDS // 2 :])  # the same indexer indexes these
            wait_for_docs(es, local.index_prefix, RECORDS, timeout_s=240)
            wait_until(lambda: committed_total(local) == RECORDS, 60, "every offset committed")
            noticed = set_aside(caplog, victim.url, "indexer")
            assert noticed, "the indexer never tried the dead node"
            retried = sum(indexer.stats.retried_items.values())
        assert count_docs(es, local.index_prefix) == RECORDS
        assert dead_letters(local) == []
        print(
            f"\nkilled {victim.name} (it held {held} primaries; every shard had a live primary "
            f"{promoted_after:.1f} s later); the indexer set it aside {len(noticed)} times and "
            f"retried {retried} items with its own backoff"
        )
    finally:
        es.close()
        remove_all(local)
