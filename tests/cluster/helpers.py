"""Helpers of the cluster tests: who leads or holds what, steady traffic, the indexer
as a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

from reqtrail.services import ElasticsearchService, KafkaService, LocalStack
from reqtrail.services.probes import kafka_metadata
from reqtrail.settings import Settings
from tests.consumers.conftest import settings_env


def partition_leaders(stack: LocalStack, topic: str) -> dict[int, int]:
    """Partition -> leader's node id, as a live broker of ``stack`` tells it."""
    for node in stack.kafka_nodes:
        metadata = kafka_metadata("127.0.0.1", node.port, all_topics=True)
        if metadata is not None and metadata.leaders(topic):
            return metadata.leaders(topic)
    raise AssertionError(f"no broker of the cluster describes {topic}")


def broker_leading_most(stack: LocalStack, topic: str) -> tuple[KafkaService, int]:
    """The broker that leads the most partitions of ``topic`` (the lowest id on a tie) and
    how many it leads."""
    counts = Counter(partition_leaders(stack, topic).values())
    node_id, led = min(counts.items(), key=lambda item: (-item[1], item[0]))
    (broker,) = [node for node in stack.kafka_nodes if node.node_id == node_id]
    return broker, led


def node_holding_most_primaries(
    stack: LocalStack, es: Elasticsearch, prefix: str
) -> tuple[ElasticsearchService, int]:
    """The ES node holding the most primary shards of ``<prefix>-*`` and how many."""
    shards = es.cat.shards(index=f"{prefix}-*", format="json", h="prirep,node,state")
    counts = Counter(s["node"] for s in shards if s["prirep"] == "p" and s.get("node"))
    name, held = min(counts.items(), key=lambda item: (-item[1], item[0]))
    (node,) = [node for node in stack.es_nodes if node.name == name]
    return node, held


def spawn_indexer(settings: Settings, log_path: Path, **env: str) -> subprocess.Popen[bytes]:
    """``reqtrail consume`` as a process of its own (its log appended to ``log_path``)."""
    full_env = (
        os.environ | settings_env(settings) | {"REQTRAIL_BATCH_SIZE": str(settings.batch_size)}
    )
    return subprocess.Popen(
        [sys.executable, "-m", "reqtrail.cli", "consume"],
        env=full_env | env,
        stdout=subprocess.DEVNULL,
        stderr=log_path.open("ab"),
    )


def stop_indexer(proc: subprocess.Popen[bytes], timeout_s: float = 60) -> int:
    """SIGTERM, then the exit status (killed if it does not stop in time)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def paced(rate: float, seconds: float, step: Callable[[int], Any]) -> float:
    """Call ``step(i)`` ``rate`` times a second for ``seconds`` (catching up when late);
    the rate achieved."""
    total = int(rate * seconds)
    began = time.monotonic()
    for i in range(total):
        pause = began + i / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        step(i)
    return total / (time.monotonic() - began)
