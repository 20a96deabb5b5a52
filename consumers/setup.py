"""Create what the pipeline writes to: the Kafka topics and the ES index template.

``reqtrail setup`` runs these; the demo and the dashboard call them as plain functions.
All are idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from elasticsearch import Elasticsearch
from kafka.admin import KafkaAdminClient
from kafka.errors import TopicAlreadyExistsError

from reqtrail.es import es_client
from reqtrail.schemas import IndexOptions, index_template
from reqtrail.schemas.indices import daily_index
from reqtrail.settings import IndexerSettings

log = logging.getLogger("reqtrail.setup")


def ensure_topics(settings: IndexerSettings, *, timeout_s: float = 30.0) -> list[str]:
    """Create the records topic and the dead-letter topic if missing; returns those created.

    An existing topic with fewer partitions than REQTRAIL_TOPIC_PARTITIONS is kept as it
    is (adding partitions moves players' keys to other partitions), with a warning logged
    (see ``short_topics``).
    """
    with _admin(settings, timeout_s) as admin:
        created = _create_topics(admin, settings, timeout_s)
        for warning in short_topics(admin, settings):
            log.warning("%s", warning)
        return created


@contextmanager
def _admin(settings: IndexerSettings, timeout_s: float) -> Iterator[KafkaAdminClient]:
    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        client_id="reqtrail-setup",
        request_timeout_ms=int(timeout_s * 1000),
    )
    try:
        yield admin
    finally:
        admin.close()


def topic_replication(brokers: int) -> tuple[int, dict[str, str]]:
    """Replication factor and topic configs for a cluster of ``brokers``: up to 3 copies, and
    2 in-sync ones required once there are 3 (with 2 copies, requiring both would stop
    acks=all writes whenever either broker is down)."""
    replicas = max(1, min(3, brokers))
    return replicas, ({"min.insync.replicas": "2"} if replicas >= 3 else {})


def _create_topics(
    admin: KafkaAdminClient, settings: IndexerSettings, timeout_s: float
) -> list[str]:
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
            admin.create_topics(spec, timeout_ms=int(timeout_s * 1000))
            created.append(name)
        except TopicAlreadyExistsError:
            pass
    if created:
        # create_topics(wait_for_metadata=True) waits its own fixed 10 s, not timeout_ms: a
        # fresh KRaft broker can take longer to elect the first leaders.
        admin.wait_for_topics(created, timeout_ms=int(timeout_s * 1000))
        log.info(
            "created topics %s (%d partitions, %d replicas)",
            created, settings.topic_partitions, replicas,
        )  # fmt: skip
    return created


def short_topics(admin: KafkaAdminClient, settings: IndexerSettings) -> list[str]:
    """One warning per topic with fewer partitions than REQTRAIL_TOPIC_PARTITIONS."""
    warnings = []
    for topic in admin.describe_topics([settings.topic, settings.dlq_topic]):
        count = len(topic["partitions"])
        if topic["error_code"] == 0 and count < settings.topic_partitions:
            warnings.append(
                f"topic {topic['name']!r} has {count} partition(s), fewer than "
                f"REQTRAIL_TOPIC_PARTITIONS={settings.topic_partitions}, so at most {count} "
                "indexer(s) can share it; it is kept as it is: recreate it, or add partitions "
                "with kafka-topics.sh --alter (players' records then move to other partitions)"
            )
    return warnings


def index_replicas(settings: IndexerSettings, es: Elasticsearch) -> int:
    """REQTRAIL_INDEX_REPLICAS, or with -1: 1 when the cluster has more than one data node."""
    if settings.index_replicas >= 0:
        return settings.index_replicas
    return 1 if int(es.cluster.health()["number_of_data_nodes"]) > 1 else 0


def index_options(settings: IndexerSettings, replicas: int | None = None) -> IndexOptions:
    return IndexOptions(
        prefix=settings.index_prefix,
        refresh_interval=settings.index_refresh_interval,
        replicas=max(0, settings.index_replicas) if replicas is None else replicas,
        shards=settings.index_shards,
    )


def ensure_index_template(
    settings: IndexerSettings, es: Elasticsearch | None = None
) -> dict[str, Any]:
    """Install (or update) the ``<prefix>`` index template; returns its body."""
    client = es or es_client(settings)
    body = index_template(index_options(settings, index_replicas(settings, client)))
    client.indices.put_index_template(name=settings.index_prefix, **body)
    return body


def ensure_index(
    settings: IndexerSettings, day: date | None = None, es: Elasticsearch | None = None
) -> str:
    """Create the daily index of ``day`` (default today, UTC) if missing, so the alias exists."""
    client = es or es_client(settings)
    name = daily_index(settings.index_prefix, day or datetime.now(UTC).date())
    if not client.indices.exists(index=name):
        client.options(ignore_status=400).indices.create(index=name)
    return name


def setup_all(settings: IndexerSettings) -> dict[str, Any]:
    """Topics, template and today's index: everything a fresh cluster needs; ``warnings``
    lists topics with fewer partitions than configured."""
    with _admin(settings, 30.0) as admin:
        created = _create_topics(admin, settings, 30.0)
        warnings = short_topics(admin, settings)
    es = es_client(settings)
    template = ensure_index_template(settings, es)
    index = ensure_index(settings, es=es)
    return {
        "topics_created": created,
        "template": settings.index_prefix,
        "index": index,
        "index_replicas": template["template"]["settings"]["index"]["number_of_replicas"],
        "warnings": warnings,
    }


def remove_all(settings: IndexerSettings) -> None:
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


def remove_indices(settings: IndexerSettings) -> None:
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
