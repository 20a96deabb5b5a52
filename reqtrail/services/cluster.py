"""The shape of the local stack (how many Kafka brokers and Elasticsearch nodes), its nodes,
and one line of health per cluster.

``reqtrail services up --kafka-brokers 3 --es-nodes 3`` records its shape in
``<state_dir>/run/stack.json``; ``status``, ``logs`` and ``down`` read it back, so they see
every node without being told again.  A stack with data keeps its shape: a KRaft quorum
and an Elasticsearch cluster remember their members, so changing the count means starting
from empty directories.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reqtrail.services import probes
from reqtrail.services.base import Report
from reqtrail.services.elasticsearch import ElasticsearchService
from reqtrail.services.errors import ServiceError
from reqtrail.services.kafka import KafkaService, new_cluster_id
from reqtrail.settings import LocalStackSettings

MAX_NODES = 9


@dataclass(frozen=True)
class StackShape:
    """How many nodes each service of the local stack has."""

    kafka_brokers: int = 1
    es_nodes: int = 1

    def __post_init__(self) -> None:
        for what, count in (("--kafka-brokers", self.kafka_brokers), ("--es-nodes", self.es_nodes)):
            if not 1 <= count <= MAX_NODES:
                raise ServiceError(f"{what} must be between 1 and {MAX_NODES}: {count}")

    @property
    def is_cluster(self) -> bool:
        return self.kafka_brokers > 1 or self.es_nodes > 1

    def describe(self) -> str:
        def plural(count: int, noun: str) -> str:
            return f"{count} {noun}{'s' if count != 1 else ''}"

        return f"{plural(self.kafka_brokers, 'Kafka broker')}, {plural(self.es_nodes, 'ES node')}"


def shape_file(settings: LocalStackSettings) -> Path:
    return Path(settings.state_dir) / "run" / "stack.json"


def recorded_shape(settings: LocalStackSettings) -> StackShape | None:
    """The shape the last ``up`` under this state directory recorded (None: never)."""
    try:
        data = json.loads(shape_file(settings).read_text())
        return StackShape(int(data["kafka_brokers"]), int(data["es_nodes"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def record_shape(settings: LocalStackSettings, shape: StackShape) -> None:
    path = shape_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"kafka_brokers": shape.kafka_brokers, "es_nodes": shape.es_nodes}))


def resolve_shape(
    settings: LocalStackSettings, kafka_brokers: int | None = None, es_nodes: int | None = None
) -> StackShape:
    """The counts asked for, else those recorded by the last ``up``, else one of each."""
    recorded = recorded_shape(settings) or StackShape()
    return StackShape(
        kafka_brokers if kafka_brokers is not None else recorded.kafka_brokers,
        es_nodes if es_nodes is not None else recorded.es_nodes,
    )


def elasticsearch_nodes(
    settings: LocalStackSettings, count: int, report: Report | None = None
) -> list[ElasticsearchService]:
    """The ``count`` nodes of the local Elasticsearch (512m heaps in a cluster unless
    REQTRAIL_ES_HEAP says otherwise), each knowing the others."""
    heap = settings.es_heap or ("1g" if count == 1 else "512m")
    nodes = [
        ElasticsearchService(settings, index=i, heap=heap, report=report) for i in range(count)
    ]
    for node in nodes:
        node.seed_nodes = nodes
    return nodes


def kafka_nodes(
    settings: LocalStackSettings, count: int, report: Report | None = None
) -> list[KafkaService]:
    """The ``count`` combined KRaft nodes of the local Kafka (384m heaps in a cluster unless
    REQTRAIL_KAFKA_HEAP says otherwise), each knowing the quorum."""
    heap = settings.kafka_heap or ("512m" if count == 1 else "384m")
    nodes = [KafkaService(settings, index=i, heap=heap, report=report) for i in range(count)]
    for node in nodes:
        node.quorum = nodes
    return nodes


def share_cluster_id(nodes: list[KafkaService]) -> str:
    """Give every node the ID the formatted ones already have (a new one if none is formatted);
    raise when formatted nodes disagree (left over from another stack)."""
    found = {node.name: node.existing_cluster_id() for node in nodes}
    ids = {cluster_id for cluster_id in found.values() if cluster_id}
    if len(ids) > 1:
        listing = ", ".join(f"{name}: {cid}" for name, cid in found.items() if cid)
        raise ServiceError(
            f"the Kafka nodes' storage belongs to different clusters ({listing}); "
            f"remove the data directories under {nodes[0].state_dir} to start afresh"
        )
    cluster_id = ids.pop() if ids else new_cluster_id()
    for node in nodes:
        node.cluster_id = cluster_id
    return cluster_id


def has_data(nodes: Sequence[ElasticsearchService | KafkaService]) -> bool:
    return any(node.data_dir.is_dir() and any(node.data_dir.iterdir()) for node in nodes)


def kafka_cluster_line(nodes: list[KafkaService]) -> str:
    """'kafka: 3 of 3 brokers, controller 2, 0 of 26 partitions under-replicated, 0 leaderless'."""
    for node in nodes:
        metadata = probes.kafka_metadata("127.0.0.1", node.port, all_topics=True)
        if metadata is None:
            continue
        live = {broker[0] for broker in metadata.brokers}
        parts = metadata.partitions
        under = sum(1 for p in parts if len(p.isr) < len(p.replicas))
        leaderless = sum(1 for p in parts if p.leader < 0 or p.leader not in live)
        return (
            f"kafka: {len(live)} of {len(nodes)} brokers, controller {metadata.controller_id}, "
            f"{under} of {len(parts)} partitions under-replicated, {leaderless} leaderless"
        )
    return f"kafka: none of the {len(nodes)} brokers answers"


def elasticsearch_cluster_line(nodes: list[ElasticsearchService]) -> str:
    """'elasticsearch: green, 3 of 3 nodes, 0 unassigned shards'."""
    for node in nodes:
        body = probes.get_json(f"{node.url}/_cluster/health?master_timeout=2s")
        if isinstance(body, dict) and "status" in body:
            return (
                f"elasticsearch: {body['status']}, {body.get('number_of_nodes', '?')} of "
                f"{len(nodes)} nodes, {body.get('unassigned_shards', '?')} unassigned shards"
            )
    return f"elasticsearch: none of the {len(nodes)} nodes answers"
