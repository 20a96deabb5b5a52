"""Create what the pipeline writes to: the Kafka topics and the ES index template.

``reqtrail setup`` runs these; the demo and the dashboard call them as plain functions.
All are idempotent.  On a cluster, topics get ``min(3, brokers)`` replicas and, with 3,
``min.insync.replicas=2`` (acks=all writes then survive a broker's loss); daily indices get
a replica once the cluster has more than one data node (``REQTRAIL_INDEX_REPLICAS=-1``).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

from elasticsearch import Elasticsearch
from kafka.admin import KafkaAdminClient
from kafka.errors import TopicAlreadyExistsError

from reqtrail.es import es_client
from reqtrail.schemas import IndexOptions, index_template
from reqtrail.schemas.indices import daily_index
from reqtrail.settings import Settings

log = logging.getLogger("reqtrail.setup")


def topic_replication(brokers: int) -> tuple[int, dict[str, str]]:
    """Replication factor and topic configs for a cluster of ``brokers``: up to 3 copies, and
    2 in-sync ones required once there are 3 (with 2 copies, requiring both would stop
    acks=all writes whenever either broker is down)."""
    replicas = max(1, min(3, brokers))
    return replicas, ({"min.insync.replicas": "2"} if replicas >= 3 else {})


def ensure_topics(settings: Settings, *, timeout_s: float = 30.0) -> list[str]:
    """Create the records topic and the dead-letter topic if missing; returns those created."""
    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        client_id="reqtrail-setup",
        request_timeout_ms=int(timeout_s * 1000),
    )
    try:
        existing = set(admin.list_topics())
        replicas, configs = topic_replication(len(admin.describe_cluster()["brokers"]))
        created: list[str] = []
        for name in (settings.topic, settings.dlq_topic):
            if name in existing:
                continue
            spec = {
                name: {
                    "num_partitions": settings.topic_partitions,
                    "replication_factor": replicas,
                    "configs": configs,
                }
            }
            try:
                admin.create_topics(spec, timeout_ms=int(timeout_s * 1000), wait_for_metadata=True)
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        if created:
            log.info(
                "created topics %s (%d partitions, %d replicas)",
                created, settings.topic_partitions, replicas,
            )  # fmt: skip
        return created
    finally:
        admin.close()


def index_replicas(settings: Settings, es: Elasticsearch) -> int:
    """REQTRAIL_INDEX_REPLICAS, or with -1: 1 when the cluster has more than one data node."""
    if settings.index_replicas >= 0:
        return settings.index_replicas
    return 1 if int(es.cluster.health()["number_of_data_nodes"]) > 1 else 0


def index_options(settings: Settings, replicas: int | None = None) -> IndexOptions:
    return IndexOptions(
        prefix=settings.index_prefix,
        refresh_interval=settings.index_refresh_interval,
        replicas=max(0, settings.index_replicas) if replicas is None else replicas,
        shards=settings.index_shards,
    )


def ensure_index_template(settings: Settings, es: Elasticsearch | None = None) -> dict[str, Any]:
    """Install (or update) the ``<prefix>`` index template; returns its body."""
    client = es or es_client(settings)
    body = index_template(index_options(settings, index_replicas(settings, client)))
    client.indices.put_index_template(name=settings.index_prefix, **body)
    return body


def ensure_index(
    settings: Settings, day: date | None = None, es: Elasticsearch | None = None
) -> str:
    """Create the daily index of ``day`` (default today, UTC) if missing, so the alias exists."""
    client = es or es_client(settings)
    name = daily_index(settings.index_prefix, day or datetime.now(UTC).date())
    if not client.indices.exists(index=name):
        client.options(ignore_status=400).indices.create(index=name)
    return name


def setup_all(settings: Settings) -> dict[str, Any]:
    """Topics, template and today's index: everything a fresh cluster needs."""
    created = ensure_topics(settings)
    es = es_client(settings)
    template = ensure_index_template(settings, es)
    index = ensure_index(settings, es=es)
    replicas = template["template"]["settings"]["index"]["number_of_replicas"]
    return {
        "topics_created": created,
        "template": settings.index_prefix,
        "index": index,
        "index_replicas": replicas,
    }


def remove_all(settings: Settings) -> None:
    """Delete the prefix's daily indices (resolved by name), its template and both topics.

    For tests and benchmarks that create throw-away pipelines; never call it on data you
    want to keep.
    """
    remove_indices(settings)
    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap.split(","), client_id="reqtrail-setup"
    )
    try:
        existing = set(admin.list_topics())
        doomed = [t for t in (settings.topic, settings.dlq_topic) if t in existing]
        if doomed:
            admin.delete_topics(doomed)
    finally:
        admin.close()


def remove_indices(settings: Settings) -> None:
    """Delete the prefix's daily indices (resolved by name) and its template; topics stay.

    For throw-away pipelines only, as ``remove_all``.
    """
    es = es_client(settings)
    try:
        names = sorted(es.indices.get(index=f"{settings.index_prefix}-*").body)
        for start in range(0, len(names), 50):
            es.indices.delete(index=",".join(names[start : start + 50]))
        es.options(ignore_status=404).indices.delete_index_template(name=settings.index_prefix)
    finally:
        es.close()
