"""``reqtrail services ... --docker``: the same services through ``docker compose``.

Uses the repository's ``docker-compose.yml`` (Kafka KRaft from ``apache/kafka`` and
Elasticsearch 9 from ``docker.elastic.co``), publishing the same ports on 127.0.0.1 as the
local stack, so every other ``reqtrail`` command and the tests work unchanged.  Its
``cluster`` profile holds three Kafka nodes and three Elasticsearch nodes
(``--kafka-brokers 3 --es-nodes 3``), started by naming them: a plain ``--profile cluster
up`` would also start the single-node pair, which wants the same host ports.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from reqtrail.services.cluster import StackShape, elasticsearch_nodes, kafka_nodes
from reqtrail.services.errors import ServiceError
from reqtrail.settings import LocalStackSettings

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
CLUSTER_SHAPE = StackShape(kafka_brokers=3, es_nodes=3)
CLUSTER_SERVICES = (
    "kafka-1",
    "kafka-2",
    "kafka-3",
    "elasticsearch-1",
    "elasticsearch-2",
    "elasticsearch-3",
)
# `down` with the profile active removes the cluster's containers too.
DOWN_ARGUMENTS = ("--profile", "cluster", "down")


def up_arguments(shape: StackShape) -> tuple[str, ...]:
    """``docker compose`` arguments that start the single-node pair or the cluster profile."""
    if shape == StackShape():
        return ("up", "-d", "--wait")
    if shape == CLUSTER_SHAPE:
        return ("--profile", "cluster", "up", "-d", "--wait", *CLUSTER_SERVICES)
    raise ServiceError(
        f"docker-compose.yml has one node of each or, in its cluster profile, 3 Kafka brokers "
        f"and 3 ES nodes, not {shape.describe()}; drop --docker to run other shapes"
    )


def compose_environment(settings: LocalStackSettings) -> dict[str, str]:
    """Variables that docker-compose.yml interpolates (ports, versions, heaps); the cluster
    profile's nodes 2 and 3 get the ports the local cluster's nodes would have."""
    es_nodes = elasticsearch_nodes(settings, CLUSTER_SHAPE.es_nodes)
    brokers = kafka_nodes(settings, CLUSTER_SHAPE.kafka_brokers)
    return {
        "REQTRAIL_ES_PORT": str(settings.es_port),
        "REQTRAIL_KAFKA_PORT": str(settings.kafka_port),
        **{f"REQTRAIL_ES_PORT_{i + 1}": str(n.http_port) for i, n in enumerate(es_nodes) if i},
        **{f"REQTRAIL_KAFKA_PORT_{i + 1}": str(n.port) for i, n in enumerate(brokers) if i},
        "REQTRAIL_ES_VERSION": settings.es_version,
        "REQTRAIL_KAFKA_VERSION": settings.kafka_version,
        "REQTRAIL_ES_HEAP": settings.es_heap or "1g",
        "REQTRAIL_ES_NODE_HEAP": settings.es_heap or "512m",
        "REQTRAIL_KAFKA_NODE_HEAP": settings.kafka_heap or "384m",
    }


def compose(settings: LocalStackSettings, *args: str) -> None:
    """Run ``docker compose -f docker-compose.yml <args>``; ServiceError when it fails."""
    docker = shutil.which("docker")
    if docker is None:
        raise ServiceError("--docker needs the docker CLI; without Docker drop --docker")
    if not COMPOSE_FILE.is_file():
        raise ServiceError(f"{COMPOSE_FILE} is missing (--docker works from a source checkout)")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True)
    if probe.returncode != 0:
        raise ServiceError("--docker needs `docker compose` (the Compose v2 plugin); install it")
    command = [docker, "compose", "-f", str(COMPOSE_FILE), *args]
    env = {**os.environ, **compose_environment(settings)}
    code = subprocess.run(command, env=env).returncode
    if code != 0:
        raise ServiceError(f"`docker compose {' '.join(args)}` failed (exit {code})")
