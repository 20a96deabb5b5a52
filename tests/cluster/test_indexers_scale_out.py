"""Three `reqtrail consume` processes share the partitions of a topic on the cluster; one is
killed (-9) while records flow, and the other two take its partitions over."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient

from reqtrail.consumers.setup import ensure_index_template, ensure_topics, remove_all
from reqtrail.es import es_client
from reqtrail.settings import Settings
from tests.cluster.helpers import paced, spawn_indexer, stop_indexer
from tests.conftest import LocalCluster
from tests.consumers.conftest import (
    committed_total,
    count_docs,
    dead_letters,
    record_values,
    wait_for_docs,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RATE = 1500  # records per second, produced while the indexers run
SECONDS = 16
KILL_AT_S = 6


def group_assignment(settings: Settings) -> dict[int, set[int]]:
    """Indexer process id -> the partitions the group gave it (its client id ends in it)."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap.split(","))
    try:
        group = admin.describe_groups([settings.consumer_group])[settings.consumer_group]
    finally:
        admin.close()
    if group["group_state"] != "Stable":
        return {}
    assignment: dict[int, set[int]] = {}
    for member in group["members"]:
        pid = int(member["client_id"].rsplit("-", 1)[1])
        topics = member["member_assignment"]["assigned_partitions"]
        assignment[pid] = {
            p for t in topics if t["topic"] == settings.topic for p in t["partitions"]
        }
    return assignment


def test_three_indexers_share_the_partitions_and_survive_losing_one(
    cluster: LocalCluster, settings: Settings, tmp_path: Path
) -> None:
    """3 indexer processes get 2 of the 6 partitions each; after kill -9 of one while
    records flow, the other two hold all 6 and exactly N documents are indexed."""
    local = cluster.settings_for(settings).replace(
        topic_partitions=6, batch_size=250, stats_interval_s=5
    )
    ensure_topics(local)
    ensure_index_template(local)
    es = es_client(local)
    values = record_values(RATE * SECONDS, seed=31)
    procs = [spawn_indexer(local, tmp_path / f"indexer-{i}.log") for i in range(3)]
    producer = KafkaProducer(bootstrap_servers=local.kafka_bootstrap.split(","), linger_ms=20)
    shared: dict[int, set[int]] = {}
    try:
        wait_until(
            lambda: sorted(map(len, group_assignment(local).values())) == [2, 2, 2],
            120,
            "3 indexers with 2 partitions each",
        )
        shared = group_assignment(local)
        assert set(shared) == {proc.pid for proc in procs}

        def produce() -> None:
            paced(RATE, SECONDS, lambda i: producer.send(local.topic, values[i]))
            producer.flush(timeout=60)

        flowing = threading.Thread(target=produce, name="steady-producer")
        flowing.start()
        time.sleep(KILL_AT_S)
        victim = procs[0]
        victim.kill()
        victim.wait(timeout=10)
        killed_at = time.monotonic()
        survivors = {proc.pid for proc in procs[1:]}
        wait_until(
            lambda: set(group_assignment(local)) == survivors,
            60,
            "the group to drop the killed indexer",
        )
        handed_over = time.monotonic() - killed_at
        after = group_assignment(local)
        flowing.join()
        assert set().union(*after.values()) == set(range(6))
        assert shared[victim.pid] <= set().union(*after.values())
        wait_for_docs(es, local.index_prefix, len(values), timeout_s=180)
        wait_until(lambda: committed_total(local) == len(values), 60, "every offset committed")
        assert count_docs(es, local.index_prefix) == len(values)
        assert dead_letters(local) == []
        codes = [stop_indexer(proc) for proc in procs[1:]]
        assert codes == [0, 0], [
            (tmp_path / f"indexer-{i}.log").read_text()[-2000:] for i in (1, 2)
        ]
        print(
            f"\npartitions per indexer before: {sorted(map(sorted, shared.values()))}; after "
            f"kill -9 of pid {victim.pid}: {sorted(map(sorted, after.values()))}, "
            f"handed over {handed_over:.1f} s after the kill"
        )
    finally:
        producer.close(timeout=5)
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        es.close()
        remove_all(local)
