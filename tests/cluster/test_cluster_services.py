"""`reqtrail services up --kafka-brokers 3 --es-nodes 3`, `status` and `up` again on the
session's local cluster (``down`` stops it at the end of the session, see tests/conftest.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from reqtrail.consumers.setup import index_replicas, remove_all, topic_replication
from reqtrail.es import es_client
from reqtrail.services.probes import kafka_metadata
from reqtrail.settings import Settings
from tests.conftest import LocalCluster
from tests.consumers.conftest import settings_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NODES = ["elasticsearch", "elasticsearch-2", "elasticsearch-3", "kafka", "kafka-2", "kafka-3"]


def rows_of(output: str) -> dict[str, list[str]]:
    """The status table's rows by node name (and the `cluster ...` lines under 'cluster')."""
    rows: dict[str, list[str]] = {}
    for line in output.splitlines()[1:]:
        words = line.split()
        if words and words[0] in NODES:
            rows[words[0]] = words
    return rows


def cluster_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("cluster ")]


def test_up_started_every_node_and_says_how_clients_reach_them(cluster: LocalCluster) -> None:
    """`up` showed 6 healthy nodes, both clusters whole (3 of 3, green) and the
    REQTRAIL_KAFKA_BOOTSTRAP / REQTRAIL_ES_URL that list every node."""
    output = cluster.up_output
    rows = rows_of(output)
    assert sorted(rows) == NODES
    assert all(row[3] == "healthy" for row in rows.values()), output
    assert rows["elasticsearch-3"][1] == cluster.es_url.split(",")[2]
    assert rows["kafka-2"][1] == cluster.kafka_bootstrap.split(",")[1]
    kafka_line, es_line = cluster_lines(output)
    assert kafka_line.startswith("cluster kafka: 3 of 3 brokers, controller ")
    assert es_line.startswith("cluster elasticsearch: green, 3 of 3 nodes")
    assert f"export REQTRAIL_KAFKA_BOOTSTRAP={cluster.kafka_bootstrap}" in output
    assert f"export REQTRAIL_ES_URL={cluster.es_url}" in output
    assert len(cluster.es_url.split(",")) == len(cluster.kafka_bootstrap.split(",")) == 3
    assert topic_replication(3) == (3, {"min.insync.replicas": "2"})


def test_status_shows_a_killed_broker_and_up_starts_only_that_one(cluster: LocalCluster) -> None:
    """After kill -9 of kafka-3's JVM, `status` exits 1 with kafka-3 DOWN and the Kafka
    cluster at 2 of 3 brokers; `up` starts kafka-3 alone and all 6 are healthy again."""
    status = cluster.services("status")
    assert status.returncode == 0, status.stdout + status.stderr
    pid = int(rows_of(status.stdout)["kafka-3"][2])
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        status = cluster.services("status")
        kafka_line = cluster_lines(status.stdout)[0]
        if kafka_line.startswith("cluster kafka: 2 of 3 brokers"):
            break
        assert time.monotonic() < deadline, f"the cluster never noticed: {kafka_line}"
        time.sleep(1)
    assert status.returncode == 1
    assert rows_of(status.stdout)["kafka-3"][3] == "DOWN"
    assert all(rows_of(status.stdout)[name][3] == "healthy" for name in NODES[:5])

    again = cluster.services("up")  # the recorded shape: no counts needed
    assert again.returncode == 0, again.stderr[-2000:]
    assert [line for line in again.stderr.splitlines() if line.startswith("starting")] == [
        f"starting kafka-3 at {cluster.kafka_bootstrap.split(',')[2]}"
    ]
    assert all(row[3] == "healthy" for row in rows_of(again.stdout).values())


def test_setup_replicates_topics_and_indices_on_a_cluster_only(
    cluster: LocalCluster, settings: Settings
) -> None:
    """`reqtrail setup` on the cluster makes 3-replica topics and a template with 1 replica;
    on the single shared node, the automatic replica count is 0."""
    local = cluster.settings_for(settings)
    env = {**cluster.env, **settings_env(local)}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "reqtrail.cli", "setup"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "installed (1 replicas)" in done.stdout
        for node in cluster.stack().kafka_nodes:
            metadata = kafka_metadata("127.0.0.1", node.port, all_topics=True)
            if metadata is not None:
                break
        assert metadata is not None
        ours = [p for p in metadata.partitions if p.topic in (local.topic, local.dlq_topic)]
        assert len(ours) == 2 * local.topic_partitions
        assert all(len(p.replicas) == 3 for p in ours)
    finally:
        remove_all(local)
    single = es_client(settings)
    try:
        assert index_replicas(settings, single) == 0
    finally:
        single.close()
