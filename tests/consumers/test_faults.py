"""Fault injection: throttling, Elasticsearch and Kafka restarts, a killed consumer.

Dedicated services (their own ports and data) are stopped and restarted here; the shared
broker and node are never touched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from reqtrail.consumers.indexer_loop import IndexerConsumer
from reqtrail.consumers.setup import ensure_index_template, ensure_topics
from reqtrail.es import es_client
from reqtrail.schemas.samples import sample_records
from reqtrail.services import ElasticsearchService, KafkaService
from reqtrail.settings import Settings
from tests.consumers.conftest import (
    cleanup,
    committed_total,
    count_docs,
    dead_letters,
    produce,
    record_values,
    running_indexer,
    settings_env,
    wait_for_docs,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _prepare(settings: Settings) -> Settings:
    settings = settings.replace(
        topic_partitions=6, retry_backoff_ms=50, retry_backoff_max_ms=1000, stats_interval_s=5
    )
    ensure_topics(settings)
    ensure_index_template(settings)
    return settings


def _index_through_a_429_storm(
    dedicated_es: Callable[..., ElasticsearchService],
    settings: Settings,
    seed: int,
    join_every: int | None,
) -> int:
    """Index 6,000 records with three indexers in one group (up to five bulk requests in
    flight) on a node with a one-slot write queue; check exactly N documents, all committed,
    none in the DLQ. ``join_every``: members join one by one, each after that many more
    documents (None: all at once). Returns the document attempts answered 429."""
    node = dedicated_es(
        extra_config={"thread_pool.write.size": 1, "thread_pool.write.queue_size": 1}
    )
    settings = _prepare(settings.replace(es_url=node.url, batch_size=100))
    # Five days of records: every bulk touches several daily indices, i.e. several
    # shard-level write tasks competing for the one-slot queue.
    values = [orjson.dumps(r) for r in sample_records(6000, seed=seed, span=timedelta(days=5))]
    produce(settings, values)
    es = es_client(settings)
    try:
        with ExitStack() as stack:
            indexers: list[IndexerConsumer] = []
            for in_flight in (1, 2, 2):
                if join_every is not None and indexers:
                    wanted = join_every * len(indexers)
                    wait_until(
                        lambda: count_docs(es, settings.index_prefix) > wanted,  # noqa: B023
                        60,
                        f"{wanted} documents before member {len(indexers) + 1} joins",
                        every_s=0.2,
                    )
                indexer = running_indexer(settings.replace(bulk_in_flight=in_flight))
                indexers.append(stack.enter_context(indexer))
            wait_for_docs(es, settings.index_prefix, len(values), timeout_s=180)
            wait_until(lambda: committed_total(settings) == len(values), 30, "all committed")
        assert count_docs(es, settings.index_prefix) == len(values)
        assert dead_letters(settings) == []
        return sum(i.stats.throttled for i in indexers)
    finally:
        cleanup(settings)


def test_429_storm_loses_nothing_and_dead_letters_nothing(
    dedicated_es: Callable[..., ElasticsearchService], settings: Settings
) -> None:
    """On a node with a one-slot write queue, three indexers in one group (up to five bulk
    requests in flight) get many 429s and still index exactly N documents, none in the DLQ."""
    throttled = _index_through_a_429_storm(dedicated_es, settings, seed=4, join_every=None)
    assert throttled > 0, "no 429 happened: the test proves nothing"
    print(f"429 answers absorbed: {throttled} document attempts")


def test_members_joining_during_a_429_storm_lose_nothing(
    dedicated_es: Callable[..., ElasticsearchService], settings: Settings
) -> None:
    """Indexers join one by one while the first ones retry throttled documents: each join
    revokes partitions in the middle of retries, and many come straight back to the same
    member. Exactly N documents, all committed, none in the DLQ.

    (kafka-python keeps a kept partition's fetch position, past the records given up at
    revocation: without the listener's seek back, they were never read again.)"""
    throttled = _index_through_a_429_storm(dedicated_es, settings, seed=5, join_every=500)
    assert throttled > 0, "no 429 happened: the test proves nothing"


def test_elasticsearch_stopped_mid_run_then_restarted(
    dedicated_es: Callable[..., ElasticsearchService], settings: Settings
) -> None:
    """ES killed while records flow: the indexer holds them, survives, and after the
    restart indexes exactly N documents."""
    node = dedicated_es()
    settings = _prepare(settings.replace(es_url=node.url, batch_size=200))
    values = record_values(4000, seed=12)
    es = es_client(settings)
    try:
        with running_indexer(settings) as indexer:
            produce(settings, values[:2000])
            wait_until(lambda: count_docs(es, settings.index_prefix) > 0, 60, "first documents")
            node.kill()
            produce(settings, values[2000:])
            wait_until(lambda: indexer.stats.retried_items[503] > 0, 30, "failed bulk requests")
            time.sleep(2)  # a few backoff rounds against a dead node
            node.start()
            wait_for_docs(es, settings.index_prefix, len(values), timeout_s=120)
            wait_until(lambda: committed_total(settings) == len(values), 30, "all committed")
        assert count_docs(es, settings.index_prefix) == len(values)
        assert dead_letters(settings) == []
    finally:
        cleanup(settings)


def _spawn_consume(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    env = os.environ | settings_env(settings) | {"REQTRAIL_BATCH_SIZE": str(settings.batch_size)}
    return subprocess.Popen(
        [sys.executable, "-m", "reqtrail.cli", "consume"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log_path.open("ab"),
    )


def test_consumer_killed_mid_batch_and_restarted(settings: Settings, tmp_path: Path) -> None:
    """SIGKILL of `reqtrail consume` while indexing, then a restart: exactly N documents."""
    settings = _prepare(settings.replace(batch_size=250))
    values = record_values(20000, seed=13)
    produce(settings, values)
    es = es_client(settings)
    log_path = tmp_path / "consume.log"
    proc = _spawn_consume(settings, log_path)
    try:
        wait_until(
            lambda: count_docs(es, settings.index_prefix) >= 2000, 60, "indexing under way", 0.1
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        indexed_at_kill = count_docs(es, settings.index_prefix)
        assert committed_total(settings) < len(values) and indexed_at_kill < len(values)
        proc = _spawn_consume(settings, log_path)
        wait_for_docs(es, settings.index_prefix, len(values), timeout_s=120)
        wait_until(lambda: committed_total(settings) == len(values), 30, "all committed")
        assert count_docs(es, settings.index_prefix) == len(values)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        cleanup(settings)


def test_kafka_restarted_consumption_resumes(
    dedicated_kafka: Callable[..., KafkaService], settings: Settings
) -> None:
    """The indexer starts while the broker is down and waits for it; later the broker
    stops and comes back mid-run: the indexer reconnects and indexes what follows."""
    broker = dedicated_kafka()
    settings = _prepare(settings.replace(kafka_bootstrap=broker.bootstrap))
    before, after = record_values(1000, seed=14), record_values(1000, seed=15)
    es = es_client(settings)
    try:
        broker.stop()
        with running_indexer(settings) as indexer:
            time.sleep(2)  # the indexer is starting against a dead broker
            broker.start()
            produce(settings, before)
            wait_for_docs(es, settings.index_prefix, len(before))
            broker.stop()
            time.sleep(3)  # the indexer polls a dead broker meanwhile
            broker.start()
            produce(settings, after)
            wait_for_docs(es, settings.index_prefix, len(before) + len(after), timeout_s=120)
            wait_until(
                lambda: committed_total(settings) == len(before) + len(after), 60, "committed"
            )
            assert indexer.stats.indexed >= len(before) + len(after)
        assert count_docs(es, settings.index_prefix) == len(before) + len(after)
    finally:
        cleanup(settings)
