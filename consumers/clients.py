"""Thin adapters: the Kafka clients and the indexer's Elasticsearch bulk transport,
configured from the indexer's settings.

None of the Kafka clients creates a topic: a misspelled one would be created with broker
defaults (one partition) and read from, or written to, in silence (see consumers.preflight).
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from kafka import KafkaConsumer, KafkaProducer

from reqtrail.consumers.bulk_client import ClientBulkTransport
from reqtrail.consumers.bulk_http import BulkTransport, HttpBulkTransport
from reqtrail.consumers.group_join import finish_interrupted_joins
from reqtrail.consumers.kafka_records import install_fast_unpacking
from reqtrail.es import es_client
from reqtrail.settings import IndexerSettings

log = logging.getLogger("reqtrail.consumer")


def client_id(role: str) -> str:
    return f"reqtrail-{role}-{socket.gethostname()}-{os.getpid()}"


def indexer_consumer(settings: IndexerSettings, **overrides: Any) -> Any:
    """The indexer's group consumer: manual commits, batches of ``batch_size`` records,
    record batches unpacked by consumers.kafka_records, group joins that a short poll
    interrupted finished (consumers.group_join)."""
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
        "allow_auto_create_topics": False,
    }
    config.update(overrides)
    consumer = finish_interrupted_joins(forbid_topic_creation(KafkaConsumer(**config)))
    install_fast_unpacking(consumer)
    return consumer


def reliable_producer(settings: IndexerSettings, role: str, **overrides: Any) -> Any:
    """A producer that waits for all in-sync replicas (dead letters, re-drives)."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap.split(","),
        "client_id": client_id(role),
        "acks": "all",
        "linger_ms": 5,
        "max_block_ms": 10000,
        "request_timeout_ms": 15000,
        "reconnect_backoff_max_ms": 2000,
        "allow_auto_create_topics": False,
    }
    config.update(overrides)
    return forbid_topic_creation(KafkaProducer(**config))


def forbid_topic_creation(client: Any) -> Any:
    """Make ``allow_auto_create_topics=False`` hold for a KafkaConsumer or KafkaProducer.

    kafka-python 3.0 builds its ClusterMetadata without that option, so it is ignored:
    every metadata request for a topic asks the broker to create it (seen with 3.0.12,
    which pyproject pins below 3.1). The flag is set where the metadata request reads
    it, before the client asks for any topic.
    """
    cluster = getattr(client, "_cluster", None) or getattr(client, "_metadata", None)
    config = getattr(cluster, "config", None)
    if isinstance(config, dict) and "allow_auto_create_topics" in config:
        config["allow_auto_create_topics"] = False
    else:
        log.warning("kafka-python changed: cannot forbid topic creation for %r", client)
    return client


def indexer_bulk_transport(settings: IndexerSettings) -> BulkTransport:
    """What the indexer sends its ``_bulk`` requests through.

    One URL (a node, or a load balancer in front of a cluster): the split-phase transport
    (consumers.bulk_http), so that Elasticsearch indexes while the loop decodes the next
    batch. Several URLs, or REQTRAIL_ES_SNIFF: elasticsearch-py's client and its node pool
    (consumers.bulk_client).
    """
    if len(settings.es_urls) == 1 and not settings.es_sniff:
        return HttpBulkTransport.from_settings(settings)
    return ClientBulkTransport(es_client(settings, retry_on_status=()))
