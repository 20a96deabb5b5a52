"""Thin adapters: the Kafka clients and the indexer's Elasticsearch bulk client, configured
from Settings."""

from __future__ import annotations

import os
import socket
from typing import Any

from elasticsearch import Elasticsearch
from kafka import KafkaConsumer, KafkaProducer

from reqtrail.consumers.bulk_http import HttpBulkTransport
from reqtrail.consumers.kafka_records import install_fast_unpacking
from reqtrail.es import es_client
from reqtrail.settings import Settings


def client_id(role: str) -> str:
    return f"reqtrail-{role}-{socket.gethostname()}-{os.getpid()}"


def indexer_consumer(settings: Settings, **overrides: Any) -> Any:
    """The indexer's group consumer: manual commits, batches of ``batch_size`` records,
    record batches unpacked by consumers.kafka_records."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap.split(","),
        "group_id": settings.consumer_group,
        "client_id": client_id("indexer"),
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": settings.batch_size,
        "fetch_max_bytes": max(52428800, settings.batch_max_bytes * 2),
        # Kafka's default. Larger fetches only delay the first records: kafka-python takes
        # ~100 ms to receive and parse 6 partitions x 5 MB before the first batch.
        "max_partition_fetch_bytes": 1048576,
        "session_timeout_ms": 10000,  # a crashed member's partitions move on within 10 s
        "heartbeat_interval_ms": 3000,
        "max_poll_interval_ms": 300000,
        "request_timeout_ms": 30000,
        "reconnect_backoff_max_ms": 2000,
    }
    config.update(overrides)
    consumer = KafkaConsumer(**config)
    install_fast_unpacking(consumer)
    return consumer


def reliable_producer(settings: Settings, role: str, **overrides: Any) -> Any:
    """A producer that waits for all in-sync replicas (dead letters, re-drives)."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap.split(","),
        "client_id": client_id(role),
        "acks": "all",
        "linger_ms": 5,
        "max_block_ms": 10000,
        "request_timeout_ms": 15000,
        "reconnect_backoff_max_ms": 2000,
    }
    config.update(overrides)
    return KafkaProducer(**config)


def indexer_bulk_client(settings: Settings) -> HttpBulkTransport | Elasticsearch:
    """What the indexer sends its ``_bulk`` requests through.

    One URL (a node, or a load balancer in front of a cluster): the split-phase transport
    (consumers.bulk_http), so that Elasticsearch indexes while the loop decodes the next
    batch. Several URLs, or REQTRAIL_ES_SNIFF: elasticsearch-py's client, whose node pool
    spreads the bulks over the nodes, sets a node that fails aside and sends a request that
    could not reach its node to another one. The split-phase transport was faster on one
    node and no faster on a 3-node cluster (bench/bench_cluster.py, docs/scaling.md), so a
    cluster gets the library's node handling. HTTP statuses are never retried by the
    client: the indexer retries them with its own backoff (consumers.indexer).
    """
    if len(settings.es_urls) == 1 and not settings.es_sniff:
        return HttpBulkTransport.from_settings(settings)
    return es_client(settings, retry_on_status=())
