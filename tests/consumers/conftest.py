"""Helpers for the indexer's integration tests: topics, template, a running indexer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
import typer
from elasticsearch import ApiError, Elasticsearch
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from reqtrail.consumers.dlq import DeadLetterInfo
from reqtrail.consumers.indexer_loop import IndexerConsumer
from reqtrail.consumers.setup import ensure_index_template, ensure_topics, remove_all
from reqtrail.es import es_client
from reqtrail.schemas.samples import sample_records
from reqtrail.settings import Settings


def settings_env(settings: Settings) -> dict[str, str]:
    """The REQTRAIL_* environment that reproduces ``settings`` in a subprocess."""
    names = (
        "kafka_bootstrap",
        "es_url",
        "topic",
        "dlq_topic",
        "consumer_group",
        "index_prefix",
        "topic_partitions",
        "stats_interval_s",
        "batch_max_wait_ms",
    )
    return {f"REQTRAIL_{n.upper()}": str(getattr(settings, n)) for n in names}


def record_values(count: int, seed: int = 11) -> list[bytes]:
    """``count`` valid records as produced by the middleware (orjson bytes)."""
    return [orjson.dumps(r) for r in sample_records(count, seed=seed)]


def consumers_app() -> typer.Typer:
    """An app holding only the indexer's commands (setup, consume, dlq, ...)."""
    from reqtrail.consumers.cli import register

    app = typer.Typer()
    register(app)
    return app


def produce(
    settings: Settings,
    values: Iterable[bytes],
    topic: str | None = None,
    partition: int | None = None,
) -> int:
    """Straight to the topic (``partition``: all in that one), acknowledged by the broker."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5)
    try:
        futures = [
            producer.send(topic or settings.topic, value, partition=partition) for value in values
        ]
        producer.flush(timeout=30)
        for future in futures:
            future.get(timeout=0)
        return len(futures)
    finally:
        producer.close(timeout=5)


def count_docs(es: Elasticsearch, prefix: str, shard_wait_s: float = 30) -> int:
    """Documents in the prefix's daily indices, refreshed first.

    A daily index the indexer has just created answers 503 (no shard started yet) for a
    moment; the count waits that out, up to ``shard_wait_s``.
    """
    deadline = time.monotonic() + shard_wait_s
    while True:
        try:
            es.indices.refresh(index=f"{prefix}-*", ignore_unavailable=True, allow_no_indices=True)
            return int(es.count(index=f"{prefix}-*", allow_no_indices=True)["count"])
        except ApiError as exc:
            if exc.meta.status != 503 or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def wait_until(
    check: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.5
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def wait_for_docs(es: Elasticsearch, prefix: str, expected: int, timeout_s: float = 60) -> None:
    seen = [0]

    def enough() -> bool:
        seen[0] = count_docs(es, prefix)
        return seen[0] >= expected

    try:
        wait_until(enough, timeout_s, f"{expected} documents")
    except AssertionError as exc:
        raise AssertionError(f"{exc} (saw {seen[0]})") from None


def read_topic(settings: Settings, topic: str, timeout_s: float = 10) -> list[Any]:
    """Every record currently in ``topic`` (no consumer group)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic} to its end")
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def dead_letters(settings: Settings) -> list[DeadLetterInfo]:
    return [DeadLetterInfo.from_message(r) for r in read_topic(settings, settings.dlq_topic)]


def committed_total(settings: Settings) -> int:
    """Sum of the group's committed offsets on the records topic."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=settings.consumer_group
    )
    try:
        partitions = consumer.partitions_for_topic(settings.topic) or ()
        return sum(consumer.committed(TopicPartition(settings.topic, p)) or 0 for p in partitions)
    finally:
        consumer.close(autocommit=False)


@contextmanager
def running_indexer(settings: Settings, **kwargs: Any) -> Iterator[IndexerConsumer]:
    """An IndexerConsumer on a thread; stopped (gracefully) and joined on exit."""
    indexer = IndexerConsumer(settings, **kwargs)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            indexer.run()
        except BaseException as exc:  # surfaced in the test below
            errors.append(exc)

    thread = threading.Thread(target=target, name="indexer", daemon=True)
    thread.start()
    try:
        yield indexer
    finally:
        indexer.stop()
        thread.join(timeout=60)
    assert not thread.is_alive(), "indexer did not stop within 60 s"
    if errors:
        raise errors[0]


def cleanup(settings: Settings) -> None:
    """Delete this test's indices (by name), template and topics."""
    remove_all(settings)


@pytest.fixture
def pipeline(settings: Settings) -> Iterator[Settings]:
    """Topics (3 partitions) and the index template for this test; removed afterwards."""
    settings = settings.replace(topic_partitions=3, stats_interval_s=5.0)
    ensure_topics(settings)
    ensure_index_template(settings)
    yield settings
    cleanup(settings)


@pytest.fixture
def es(pipeline: Settings) -> Iterator[Elasticsearch]:
    client = es_client(pipeline)
    yield client
    client.close()
